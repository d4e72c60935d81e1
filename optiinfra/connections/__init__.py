"""Each customer's own connections: the AWS account reached by assuming its role, its Kubernetes cluster
and its Prometheus, with the secrets among them sealed at rest."""
