"""The runtime: faust app, agents, routing and the I/O around the pure core."""
