"""Live events for the seller: `publish` from anywhere, `WS /ws` to the browser.

`service.publish` sends an event on the user's Redis channel; the `hub.EventHub` of every API
process (one pub/sub connection each) hands it to that user's sockets, served by `endpoints`.
"""
