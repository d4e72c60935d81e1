"""The Performance agent: keeps latency SLOs met at the lowest replica count, ahead of the traffic."""
