"""The records design: Goa's `interceptors` example, ported to Bastion's DSL.

Three server interceptors, declared once and applied by name, as Goa's design does:

- `TraceRequest` reads and writes the payload's `traceID` (a new id when the caller sent
  none; Goa's only writes it);
- `TenantCheck` reads `tenantID` and the caller's `tenant` and refuses another tenant's
  records (`forbidden`: 403 over HTTP, PERMISSION_DENIED over gRPC);
- `Cache` (on `get` only) reads `recordID` and writes the result's `cachedAt`;
- `TraceBidirectionalStream` (on `stream`, over gRPC) gives each message of the stream,
  both ways, a trace id when it has none.

Goa wraps a method's interceptors by name, so they run TraceRequest, TenantCheck, Cache:
the tenant is checked before the cache can answer.
"""

from __future__ import annotations

from bastion.dsl import *

with API("records") as api:
    Title("Records API")
    Description("Records per tenant, behind a tenant check and a transparent cache.")

with Interceptor("TraceRequest"):
    Description("Server-side interceptor that gives every request a trace id")
    with ReadPayload():
        Attribute("traceID")
    with WritePayload():
        Attribute("traceID")

with Interceptor("TenantCheck"):
    Description("Server-side interceptor that refuses the records of another tenant")
    with ReadPayload():
        Attribute("tenantID")
        Attribute("tenant")

with Interceptor("Cache"):
    Description("Server-side interceptor which implements a transparent cache for loaded "
                "records")
    with ReadPayload():
        Attribute("recordID")
    with WriteResult():
        Attribute("cachedAt")

with Interceptor("TraceBidirectionalStream"):
    Description("Server-side interceptor that adds trace context to the bidirectional stream")
    with ReadStreamingPayload():
        Attribute("traceID")
    with WriteStreamingPayload():
        Attribute("traceID")
    with ReadStreamingResult():
        Attribute("traceID")
    with WriteStreamingResult():
        Attribute("traceID")

with Type("Record") as Record:
    Field(1, "id", String, "ID of the record")
    Field(2, "tenantID", String, "Tenant the record belongs to")
    Field(3, "value", String, "Value of the record", max_length=200)
    Field(4, "traceID", String, "Trace id of the request, written by TraceRequest",
          format=UUID)
    Field(5, "cachedAt", String, "When the record was cached, written by Cache",
          format=DateTime)
    Field(6, "loads", Int, "How many times the service loaded the record", minimum=1)
    Required("id", "tenantID", "value", "loads")

with Service("records"):
    Description("The records service, each method behind the interceptors.")
    ServerInterceptor("TraceRequest")
    ServerInterceptor("TenantCheck")
    Error("forbidden", description="The record belongs to another tenant")
    Error("not_found", description="No record has this id")
    with HTTP():
        Path("/records")
        Response("forbidden", StatusForbidden)
        Response("not_found", StatusNotFound)
    with GRPC():
        Response("forbidden", CodePermissionDenied)
        Response("not_found", CodeNotFound)

    with Method("get"):
        Description("Get a record by id, through the cache.")
        ServerInterceptor("Cache")  # for this method only
        with Payload():
            Field(1, "tenantID", String, "Tenant of the record")
            Field(2, "recordID", String, "ID of the record")
            Field(3, "tenant", String, "The caller's tenant")
            Field(4, "traceID", String, "Trace id, written by TraceRequest", format=UUID)
            Required("tenantID", "recordID", "tenant")
        Result(Record)
        with HTTP():
            GET("/{tenantID}/{recordID}")
            Header("tenant:X-Tenant")
            Header("traceID:X-Trace-ID")
        with GRPC():
            Metadata("tenant:x-tenant", "traceID:x-trace-id")

    with Method("create"):
        Description("Create a record.")
        with Payload():
            Field(1, "tenantID", String, "Tenant of the record")
            Field(2, "value", String, "Value to store", max_length=200)
            Field(3, "tenant", String, "The caller's tenant")
            Field(4, "traceID", String, "Trace id, written by TraceRequest", format=UUID)
            Required("tenantID", "value", "tenant")
        Result(Record)
        with HTTP():
            POST("/{tenantID}")
            Header("tenant:X-Tenant")
            Header("traceID:X-Trace-ID")
            Body("value")
            Response(StatusCreated)
        with GRPC():
            Metadata("tenant:x-tenant", "traceID:x-trace-id")

    with Method("stream"):
        Description("Echo each message upper-cased, then one `done` message.")
        ServerInterceptor("TraceBidirectionalStream")
        with Payload():  # sent once, as metadata, before the stream
            Field(1, "tenantID", String, "Tenant of the records")
            Field(2, "tenant", String, "The caller's tenant")
            Field(3, "traceID", String, "Trace id, written by TraceRequest", format=UUID)
            Required("tenantID", "tenant")
        with StreamingPayload():
            Field(1, "value", String, max_length=200)
            Field(2, "traceID", String, format=UUID)
            Required("value")
        with StreamingResult():
            Field(1, "value", String)
            Field(2, "traceID", String, format=UUID)
            Required("value")
        with GRPC():
            Metadata("tenantID:x-tenant-id", "tenant:x-tenant", "traceID:x-trace-id")
