"""What an operator watches: Prometheus metrics, JSON logs with a request id, the client address."""
