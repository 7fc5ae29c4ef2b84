"""Plumbing shared by every service: settings, Kafka I/O, gRPC runtime, metrics, snapshots."""
