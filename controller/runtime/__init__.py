"""Controller plumbing on kubernetes-asyncio: API client, informers, work queue, leases, HTTP endpoints."""
