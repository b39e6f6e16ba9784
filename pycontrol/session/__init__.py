"""Trading sessions: journal, engine interface, ZeroMQ control plane, venues and recovery.

See docs/sessions.md for the processes, sockets, message schemas and where the Rust engine
and the L3 simulated exchange plug in.
"""
