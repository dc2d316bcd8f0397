"""Use cases over the domain: publish an event, deliver one message."""
