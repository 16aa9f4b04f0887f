"""uvicorn's WebSocket protocol, with an answer for handshakes it cannot parse.

websockets refuses a handshake whose request line or a header is over its 8 KiB line limit (a
huge `?token=`, a huge header) and prepares a 414 or 431 response, but uvicorn 0.54's
websockets-sansio protocol never sends it nor closes the connection: the client waits until its
own timeout and the server holds the socket for as long as the client keeps it, which lets
anyone pile up open connections. This subclass sends what websockets prepared (or nothing, for
a handshake that is not HTTP at all) and closes the connection, as uvicorn does for a malformed
plain HTTP request.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if (
            self.conn.handshake_exc is not None
            and not self.handshake_initiated
            and not self.transport.is_closing()
        ):
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
