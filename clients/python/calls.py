"""Calls every operation of /api/openapi.json through the client openapi-python-client generated
from it (the package `gatehouse_api_client`), as an app would, and checks what the server answers.

Run by load/clients.sh, with the generated package on PYTHONPATH and:
  GATEHOUSE_URL           the server, e.g. http://127.0.0.1:18797
  GATEHOUSE_TOKEN         a user's access token
  GATEHOUSE_OTHER_TOKEN   another user's (may not change the first one's articles)
  GATEHOUSE_LOGOUT_TOKEN  a token of its own for logout, which revokes the token it is called with
"""

import datetime
import os
import sys
import uuid

import httpx

from gatehouse_api_client import AuthenticatedClient, Client
from gatehouse_api_client.api.articles import (
    create_article,
    delete_article,
    get_article,
    list_articles,
    update_article,
)
from gatehouse_api_client.api.me import get_me, logout, update_me
from gatehouse_api_client.models import (
    Article,
    ArticleCreate,
    ArticlePage,
    ArticlePatch,
    ErrorBody,
    ErrorCode,
    ListArticlesOrdering,
    Me,
    MePatch,
)
from gatehouse_api_client.types import Response

base_url = os.environ["GATEHOUSE_URL"]
client = AuthenticatedClient(base_url=base_url, token=os.environ["GATEHOUSE_TOKEN"])
other = AuthenticatedClient(base_url=base_url, token=os.environ["GATEHOUSE_OTHER_TOKEN"])
leaving = AuthenticatedClient(base_url=base_url, token=os.environ["GATEHOUSE_LOGOUT_TOKEN"])

exercised: set[str] = set()


def check(ok: bool, what: str) -> None:
    if not ok:
        sys.exit(f"python: FAILED: {what}")


def expect(
    operation: str,
    label: str,
    response: Response,
    status: int,
    parsed: type | None = None,
    code: ErrorCode | None = None,
):
    """Checks the status, and that the body was parsed into the generated model: `parsed` for a
    success, `ErrorBody` with `code` for an error. Returns the parsed body."""
    exercised.add(operation)
    body = response.parsed
    got = body.error.code.value if isinstance(body, ErrorBody) else ""
    words = ("python:", operation, label, "->", str(response.status_code.value), got)
    print(" ".join(w for w in words if w))
    check(response.status_code == status, f"{operation} {label}: {response.content!r}")
    if code is not None:
        check(isinstance(body, ErrorBody), f"{operation}: {body!r} is not an ErrorBody")
        check(body.error.code == code, f"{operation}: {body.error.code} is not {code}")
    if parsed is not None:
        check(isinstance(body, parsed), f"{operation}: {body!r} is not a {parsed.__name__}")
    return body


# The caller's account, typed.
me = expect("getMe", "", get_me.sync_detailed(client=client), 200, Me)
check(isinstance(me.id, uuid.UUID), "Me.id is a UUID")
check(isinstance(me.created_at, datetime.datetime), "Me.created_at is a datetime")
check(isinstance(me.groups, list), "Me.groups is a list")

changed = expect(
    "updateMe",
    "",
    update_me.sync_detailed(client=client, body=MePatch(first_name="Ada", last_name="Lovelace")),
    200,
    Me,
)
check((changed.first_name, changed.last_name) == ("Ada", "Lovelace"), "names changed")

# Too long a name: 422 naming the field.
too_long = expect(
    "updateMe",
    "first_name of 151 characters",
    update_me.sync_detailed(client=client, body=MePatch(first_name="x" * 151)),
    422,
    code=ErrorCode.VALIDATION_ERROR,
)
check("first_name" in too_long.error.fields, f"fields name first_name: {too_long.error.fields}")

# An article, with its address and version.
response = create_article.sync_detailed(
    client=client, body=ArticleCreate(name="Python's article", body="Written by the client.")
)
article = expect("createArticle", "", response, 201, Article)
check(response.headers.get("Location") == f"/api/v1/articles/{article.id}", "Location")
etag = response.headers.get("ETag")
check(bool(etag), "ETag on 201")
for n in (1, 2):
    expect(
        "createArticle",
        f"for paging #{n}",
        create_article.sync_detailed(client=client, body=ArticleCreate(name=f"Python paging {n}")),
        201,
        Article,
    )

response = get_article.sync_detailed(article.id, client=client)
expect("getArticle", "", response, 200, Article)
check(response.headers.get("ETag") == etag, "getArticle's ETag is createArticle's")

# A page in the middle: both neighbours are there.
page = expect(
    "listArticles",
    "ordering=name page=2 per_page=1",
    list_articles.sync_detailed(
        client=client, ordering=ListArticlesOrdering.NAME, page=2, per_page=1
    ),
    200,
    ArticlePage,
)
check(len(page.items) == 1 and isinstance(page.items[0], Article), "one Article on the page")
check(page.next_ is not None and page.previous is not None, f"next/previous: {page!r}")

# Writes quote the version they read; a stale one is refused.
response = update_article.sync_detailed(
    article.id, client=client, body=ArticlePatch(name="Python's article, changed"), if_match=etag
)
expect("updateArticle", "current If-Match", response, 200, Article)
new_etag = response.headers.get("ETag")
check(bool(new_etag) and new_etag != etag, "a new ETag after the change")
expect(
    "updateArticle",
    "stale If-Match",
    update_article.sync_detailed(
        article.id, client=client, body=ArticlePatch(body="lost"), if_match=etag
    ),
    412,
    code=ErrorCode.PRECONDITION_FAILED,
)

# Another user may not change it, whatever the version.
expect(
    "updateArticle",
    "by another user",
    update_article.sync_detailed(
        article.id, client=other, body=ArticlePatch(name="Not mine"), if_match=new_etag
    ),
    403,
    code=ErrorCode.PERMISSION_DENIED,
)

expect(
    "deleteArticle",
    "stale If-Match",
    delete_article.sync_detailed(article.id, client=client, if_match=etag),
    412,
    code=ErrorCode.PRECONDITION_FAILED,
)
expect(
    "deleteArticle",
    "current If-Match",
    delete_article.sync_detailed(article.id, client=client, if_match=new_etag),
    204,
)

# No token at all: the plain client.
response = get_me.sync_detailed(client=Client(base_url=base_url))
expect("getMe", "without a token", response, 401, code=ErrorCode.MISSING_TOKEN)
check(response.headers.get("WWW-Authenticate", "").startswith("Bearer"), "WWW-Authenticate")

# Logging out revokes the token it is called with.
expect("logout", "", logout.sync_detailed(client=leaving), 204)
expect(
    "getMe",
    "after logout",
    get_me.sync_detailed(client=leaving),
    401,
    code=ErrorCode.TOKEN_REVOKED,
)

# Every operation of the document, no more, no less.
document = httpx.get(f"{base_url}/api/openapi.json").raise_for_status().json()
operations = {
    op["operationId"]
    for item in document["paths"].values()
    for op in item.values()
    if isinstance(op, dict) and "operationId" in op
}
print(f"python: operations exercised: {', '.join(sorted(exercised))}")
check(operations <= exercised, f"not exercised: {sorted(operations - exercised)}")
check(exercised <= operations, f"not in the document: {sorted(exercised - operations)}")
