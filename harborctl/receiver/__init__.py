"""The local test receiver (``harborctl run receiver``): scripted answers chosen by path,
Standard Webhooks verification, and a record of everything that arrived.

Path grammar: :mod:`harborctl.receiver.behaviours`; app, runners and inspection API:
:mod:`harborctl.receiver.server`. Import those modules directly (aiohttp loads only there).
"""
