"""The CloudWatch metrics OptiInfra reads, by the names the EC2 service and the CloudWatch agent publish."""

from typing import NamedTuple


class CloudWatchMetric(NamedTuple):
    namespace: str
    name: str


CPU_UTILIZATION = CloudWatchMetric("AWS/EC2", "CPUUtilization")
GPU_UTILIZATION = CloudWatchMetric("CWAgent", "nvidia_smi_utilization_gpu")
GPU_MEMORY_USED = CloudWatchMetric("CWAgent", "nvidia_smi_memory_used")
GPU_MEMORY_TOTAL = CloudWatchMetric("CWAgent", "nvidia_smi_memory_total")
MEMORY_UTILIZATION = CloudWatchMetric("CWAgent", "mem_used_percent")
"""The CloudWatch agent's own names (`nvidia_gpu` and `mem` sections). The agent has no GPU memory
percent (`nvidia_smi_utilization_memory` is memory *bandwidth* busy time), so GPU memory utilization is
100 * used / total, both in MiB. All are read with the single dimension InstanceId: the agent must append
InstanceId and aggregate on it (`"aggregation_dimensions": [["InstanceId"]]`), which averages over the
instance's GPUs."""

VLLM_REQUESTS_RUNNING = CloudWatchMetric("CWAgent", "vllm:num_requests_running")
"""vLLM's requests being served, as the CloudWatch agent publishes it from the replica's Prometheus
endpoint (its `prometheus` section scraping vLLM's /metrics, aggregated on AutoScalingGroupName): the load
signal vLLM autoscalers (AIBrix, KEDA setups) scale on, where GPU utilization reads near 100% with a few
requests in flight."""

GROUP_DIMENSION = "AutoScalingGroupName"
"""The CloudWatch dimension of a metric aggregated over a group (the CloudWatch agent's
`aggregation_dimensions: [["AutoScalingGroupName"]]`)."""
