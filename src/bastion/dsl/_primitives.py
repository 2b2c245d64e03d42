"""The DSL's constants: primitive types and string formats."""

from __future__ import annotations

from bastion.dsl._server import URIFormat
from bastion.dsl.expr import EMPTY, ERROR_RESULT, Primitive

Boolean = Primitive("Boolean", "boolean")
Int = Primitive("Int", "integer", -(2**63), 2**63 - 1, "int64")
Int32 = Primitive("Int32", "integer", -(2**31), 2**31 - 1, "int32")
Int64 = Primitive("Int64", "integer", -(2**63), 2**63 - 1, "int64")
UInt = Primitive("UInt", "integer", 0, 2**64 - 1, "uint64")
UInt32 = Primitive("UInt32", "integer", 0, 2**32 - 1, "uint32")
UInt64 = Primitive("UInt64", "integer", 0, 2**64 - 1, "uint64")
Float32 = Primitive("Float32", "number", json_format="float")
Float64 = Primitive("Float64", "number", json_format="double")
String = Primitive("String", "string")
Bytes = Primitive("Bytes", "bytes", json_format="byte")
Any: Primitive = Primitive("Any", "any")  # the design type; typing.Any is `_Any` here

# Formats, by their JSON Schema names; the short names read like Goa's FormatX constants.
FormatUUID = UUID = "uuid"
FormatEmail = Email = "email"
FormatDate = Date = "date"
FormatDateTime = DateTime = "date-time"
FormatURI = URI = URIFormat("uri")  # also Goa's URI("http://...") in a Host
FormatIPv4 = IPv4 = "ipv4"
FormatIPv6 = IPv6 = "ipv6"
FormatIP = IP = "ip"
FormatHostname = Hostname = "hostname"
FormatRegexp = Regexp = "regexp"
FormatMAC = MAC = "mac"  # IEEE 802 MAC-48, EUI-48 or EUI-64, as Go's net.ParseMAC reads it
FormatCIDR = CIDR = "cidr"  # an IP address and prefix length, as Go's net.ParseCIDR reads it
FormatJSON = JSON = "json"  # any JSON text
FormatRFC1123 = RFC1123 = "rfc1123"  # "Mon, 02 Jan 2006 15:04:05 MST"
FORMATS = frozenset({UUID, Email, Date, DateTime, URI, IPv4, IPv6, IP, Hostname, Regexp, MAC,
                     CIDR, JSON, RFC1123})

#: The type of design errors declared without one: Bastion's error object.
ErrorResult = ERROR_RESULT
#: No value: `Payload(Empty)`, `Result(Empty)`, and `Body(Empty)` in a response.
Empty = EMPTY
