"""The cellar design, ported line for line from Goa's `examples/cellar/design`.

What is not here: the gRPC mapping, and the `Field` numbers and `rpc:tag` keys that
only gRPC reads. The multipart methods `multi_add` and `multi_update` read their parts
with the service's decoders, as Goa's example does (`Storage.decode_multi_add_multipart`).
"""

from __future__ import annotations

from bastion.dsl import *

# ---------------------------------------------------------------- api.go

with API("cellar") as api:
    Title("Cellar Service")
    Description("HTTP service for managing your wine cellar")
    with Server("cellar"):
        Description("cellar hosts the storage, sommelier and swagger services.")
        Services("sommelier", "storage", "swagger")
        with Host("localhost"):
            Description("default host")
            URI("http://localhost:8000/cellar")
            URI("grpc://localhost:8080/cellar")
        with Host("goa.design"):
            Description("public host")
            URI("https://goa.design/cellar")
            URI("grpcs://goa.design/cellar")

with Type("Component") as Component:
    Attribute("varietal", String, "Grape varietal", pattern=r"[A-Za-z' ]+", max_length=100,
              example="Syrah")
    Attribute("percentage", UInt32, "Percentage of varietal in wine", minimum=1, maximum=100)
    Required("varietal")

with ResultType("Winery") as Winery:
    with Attributes():
        Attribute("name", String, "Name of winery", example="Longoria")
        Attribute("region", String, "Region of winery", pattern=r"[a-zA-Z '\.]+",
                  example="Central Coast, California")
        Attribute("country", String, "Country of winery", pattern=r"[a-zA-Z '\.]+",
                  example="USA")
        Attribute("url", String, "Winery website URL", pattern=r"^(https?|ftp)://[^\s/$.?#].[^\s]*$",
                  example="http://www.longoriawine.com/")
    with View("default"):
        Attribute("name")
        Attribute("region")
        Attribute("country")
        Attribute("url")
    with View("tiny"):
        Attribute("name")
    Required("name", "region", "country")

with Type("Bottle") as Bottle:
    Description("Bottle describes a bottle of wine to be stored.")
    Attribute("name", String, "Name of bottle", max_length=100, example="Blue's Cuvee")
    Attribute("winery", Winery, "Winery that produces wine")
    Attribute("vintage", UInt32, "Vintage of bottle", minimum=1900, maximum=2020)
    Attribute("composition", ArrayOf(Component),
              "Composition is the list of grape varietals and associated percentage.")
    Attribute("description", String, "Description of bottle", max_length=2000,
              example="Red wine blend with an emphasis on the Cabernet Franc grape")
    Attribute("rating", UInt32, "Rating of bottle from 1 (worst) to 5 (best)",
              minimum=1, maximum=5)
    Required("name", "winery", "vintage")

with ResultType("application/vnd.cellar.stored-bottle") as StoredBottle:
    Description("A StoredBottle describes a bottle retrieved by the storage service.")
    Reference(Bottle)
    TypeName("StoredBottle")
    with Attributes():
        Attribute("id", String, "ID is the unique id of the bottle.", example="123abc")
        Attribute("name")
        Attribute("winery")
        Attribute("vintage")
        Attribute("composition")
        Attribute("description")
        Attribute("rating")
    with View("default"):
        Attribute("id")
        Attribute("name")
        with Attribute("winery"):
            View("tiny")
        Attribute("vintage")
        Attribute("composition")
        Attribute("description")
        Attribute("rating")
    with View("tiny"):
        Attribute("id")
        Attribute("name")
        with Attribute("winery"):
            View("tiny")
    Required("id", "name", "winery", "vintage")

with Type("NotFound") as NotFound:
    Description("NotFound is the type returned when attempting to show or delete a bottle "
                "that does not exist.")
    with Attribute("message", String, "Message of error", example="bottle 1 not found"):
        Meta("struct:error:name")
    Attribute("id", String, "ID of missing bottle")
    Required("message", "id")

with Type("Criteria") as Criteria:
    Description("Criteria described a set of criteria used to pick a bottle. All criteria "
                "are optional, at least one must be provided.")
    Attribute("name", String, "Name of bottle to pick", example="Blue's Cuvee")
    Attribute("varietal", ArrayOf(String), "Varietals in preference order",
              example=["pinot noir", "merlot", "cabernet franc"])
    Attribute("winery", String, "Winery of bottle to pick", example="longoria")

# ---------------------------------------------------------------- storage.go

with Service("storage"):
    Description("The storage service makes it possible to view, add or remove wine bottles.")
    with HTTP():
        Path("/storage")

    with Method("list"):
        Description("List all stored bottles")
        with Result(CollectionOf(StoredBottle)):
            View("tiny")
        with HTTP():
            GET("/")
            Response(StatusOK)

    with Method("show"):
        Description("Show bottle by ID")
        with Payload():
            Attribute("id", String, "ID of bottle to show")
            Attribute("view", String, "View to render", enum=["default", "tiny"])
            Required("id")
        Result(StoredBottle)
        Error("not_found", NotFound, "Bottle not found")
        with HTTP():
            GET("/{id}")
            Param("view")
            Response(StatusOK)
            Response("not_found", StatusNotFound)

    with Method("add"):
        Description("Add new bottle and return its ID.")
        Payload(Bottle)
        Result(String)
        with HTTP():
            POST("/")
            Response(StatusCreated)

    with Method("remove"):
        Description("Remove bottle from storage")
        with Payload():
            Attribute("id", String, "ID of bottle to remove")
            Required("id")
        Error("not_found", NotFound, "Bottle not found")
        with HTTP():
            DELETE("/{id}")
            Response(StatusNoContent)

    with Method("rate"):
        Description("Rate bottles by IDs")
        Payload(MapOf(UInt32, ArrayOf(String)))
        with HTTP():
            POST("/rate")
            MapParams()
            Response(StatusOK)

    with Method("multi_add"):
        Description("Add n number of bottles and return their IDs. This is a multipart "
                    "request and each part has field name 'bottle' and contains the encoded "
                    "bottle info to be added.")
        Payload(ArrayOf(Bottle))
        Result(ArrayOf(String))
        with HTTP():
            POST("/multi_add")
            MultipartRequest()

    with Method("multi_update"):
        Description("Update bottles with the given IDs. This is a multipart request and each "
                    "part has field name 'bottle' and contains the encoded bottle info to be "
                    "updated. The IDs in the query parameter is mapped to each part in the "
                    "request.")
        with Payload():
            Attribute("ids", ArrayOf(String), "IDs of the bottles to be updated")
            Attribute("bottles", ArrayOf(Bottle),
                      "Array of bottle info that matches the ids attribute")
            Required("ids", "bottles")
        with HTTP():
            PUT("/multi_update")
            Param("ids")
            MultipartRequest()
            Response(StatusNoContent)

# ---------------------------------------------------------------- sommelier.go

with Service("sommelier"):
    Description("The sommelier service retrieves bottles given a set of criteria.")
    with HTTP():
        Path("/sommelier")
    with Method("pick"):
        Payload(Criteria)
        with Result(CollectionOf(StoredBottle)):
            View("default")
        Error("no_criteria", String, "Missing criteria")
        Error("no_match", String, "No bottle matched given criteria")
        with HTTP():
            POST("/")
            Response(StatusOK)
            Response("no_criteria", StatusBadRequest)
            Response("no_match", StatusNotFound)

# ---------------------------------------------------------------- swagger.go

with Service("swagger"):
    Description("The swagger service serves the API swagger definition.")
    with HTTP():
        Path("/swagger")
    with Files("/swagger.json", "gen/http/openapi.json"):
        Description("JSON document containing the API swagger definition")
