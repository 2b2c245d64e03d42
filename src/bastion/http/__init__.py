"""The HTTP transport: router, request decoder, response encoder, error bodies, muxer.

Users reach it through `bastion.App`; these modules are its parts.
"""

from bastion.http.errors import HTTPError
from bastion.http.muxer import Muxer
from bastion.http.requestlog import RequestLog, RequestLogOptions
from bastion.http.router import Match, RouteClash, Router

__all__ = ["HTTPError", "Match", "Muxer", "RequestLog", "RequestLogOptions", "RouteClash", "Router"]
