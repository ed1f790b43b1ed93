"""Peer-to-peer networking: framed TCP, authenticated handshake, flood gossip, request/response."""

from nomos_node.network.service import NetworkService, RequestFailed, RequestRejected

__all__ = ["NetworkService", "RequestFailed", "RequestRejected"]
