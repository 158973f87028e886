"""The running service: the main loop and its wiring, systemd notification, health and metrics."""
