"""The HTTP transport: router, request decoder, response encoder, error bodies, muxer.

Users reach it through `bastion.App`; these modules are its parts.
"""

from bastion.http.codecs import CBOR, JSON, MSGPACK, TEXT, Codec, Codecs
from bastion.http.errors import HTTPError
from bastion.http.multipart import MultipartReader, Part, Upload
from bastion.http.muxer import Muxer
from bastion.http.rawbody import RequestBody
from bastion.http.requestlog import RequestLog, RequestLogOptions
from bastion.http.router import Match, RouteClash, Router

__all__ = [
    "CBOR",
    "JSON",
    "MSGPACK",
    "TEXT",
    "Codec",
    "Codecs",
    "HTTPError",
    "Match",
    "MultipartReader",
    "Muxer",
    "Part",
    "RequestBody",
    "RequestLog",
    "RequestLogOptions",
    "RouteClash",
    "Router",
    "Upload",
]
