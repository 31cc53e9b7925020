// Calls every operation of /api/openapi.json through openapi-fetch, typed by the schema.d.ts that
// openapi-typescript generated from it, as an app would, and checks what the server answers.
// `precision` below is only type-checked: each line under a @ts-expect-error must fail to compile.
//
// Run by load/clients.sh (tsc, then node), with:
//   GATEHOUSE_URL           the server, e.g. http://127.0.0.1:18797
//   GATEHOUSE_TOKEN         a user's access token
//   GATEHOUSE_OTHER_TOKEN   another user's (may not change the first one's articles)
//   GATEHOUSE_LOGOUT_TOKEN  a token of its own for logout, which revokes the token it is called with
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

// Node's, without @types/node: all this program needs of it.
declare const process: { env: Record<string, string | undefined> };

type ErrorBody = components["schemas"]["ErrorBody"];
type ErrorCode = components["schemas"]["ErrorCode"];
type MePatch = components["schemas"]["MePatch"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const baseUrl = env("GATEHOUSE_URL");
const signedIn = (token: string) =>
  createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
const client = signedIn(env("GATEHOUSE_TOKEN"));
const other = signedIn(env("GATEHOUSE_OTHER_TOKEN"));
const leaving = signedIn(env("GATEHOUSE_LOGOUT_TOKEN"));
const anonymous = createClient<paths>({ baseUrl });

const exercised = new Set<string>();

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`ts: FAILED: ${what}`);
}

/** Checks the status, and for an error the code of its (typed) body. */
function expect(
  operation: string,
  label: string,
  result: { response: Response; error?: ErrorBody | undefined },
  status: number,
  code?: ErrorCode,
): void {
  exercised.add(operation);
  const got = result.error?.error.code ?? "";
  console.log(["ts:", operation, label, "->", String(result.response.status), got].filter(Boolean).join(" "));
  check(result.response.status === status, `${operation} ${label}: ${JSON.stringify(result.error)}`);
  if (code !== undefined) check(got === code, `${operation} ${label}: ${got} is not ${code}`);
}

// The caller's account, typed.
const me = await client.GET("/api/v1/me");
expect("getMe", "", me, 200);
check(me.data !== undefined && Array.isArray(me.data.groups), "Me.groups");

const changed = await client.PATCH("/api/v1/me", { body: { first_name: "Grace", last_name: "Hopper" } });
expect("updateMe", "", changed, 200);
check(changed.data?.first_name === "Grace" && changed.data.last_name === "Hopper", "names changed");

const tooLong = await client.PATCH("/api/v1/me", { body: { first_name: "x".repeat(151) } });
expect("updateMe", "first_name of 151 characters", tooLong, 422, "validation_error");
check(tooLong.error?.error.fields?.["first_name"] !== undefined, "fields name first_name");

// An article, with its address and version.
const created = await client.POST("/api/v1/articles", {
  body: { name: "TypeScript's article", body: "Written by the client." },
});
expect("createArticle", "", created, 201);
check(created.data !== undefined, "createArticle's body");
const id = created.data.id;
check(created.response.headers.get("Location") === `/api/v1/articles/${id}`, "Location");
const etag = created.response.headers.get("ETag");
check(etag !== null, "ETag on 201");
for (const n of [1, 2]) {
  const more = await client.POST("/api/v1/articles", { body: { name: `TypeScript paging ${n}` } });
  expect("createArticle", `for paging #${n}`, more, 201);
}

const read = await client.GET("/api/v1/articles/{id}", { params: { path: { id } } });
expect("getArticle", "", read, 200);
check(read.response.headers.get("ETag") === etag, "getArticle's ETag is createArticle's");

// A page in the middle: both neighbours are there.
const page = await client.GET("/api/v1/articles", {
  params: { query: { ordering: "-name", page: 2, per_page: 1 } },
});
expect("listArticles", "ordering=-name page=2 per_page=1", page, 200);
check(page.data?.items.length === 1, "one article on the page");
check(page.data.next !== null && page.data.previous !== null, "next and previous");

// Writes quote the version they read; a stale one is refused.
const updated = await client.PATCH("/api/v1/articles/{id}", {
  params: { path: { id }, header: { "If-Match": etag } },
  body: { name: "TypeScript's article, changed" },
});
expect("updateArticle", "current If-Match", updated, 200);
const newEtag = updated.response.headers.get("ETag");
check(newEtag !== null && newEtag !== etag, "a new ETag after the change");
const stale = await client.PATCH("/api/v1/articles/{id}", {
  params: { path: { id }, header: { "If-Match": etag } },
  body: { body: "lost" },
});
expect("updateArticle", "stale If-Match", stale, 412, "precondition_failed");

// Another user may not change it, whatever the version.
const notMine = await other.PATCH("/api/v1/articles/{id}", {
  params: { path: { id }, header: { "If-Match": newEtag } },
  body: { name: "Not mine" },
});
expect("updateArticle", "by another user", notMine, 403, "permission_denied");

const staleDelete = await client.DELETE("/api/v1/articles/{id}", {
  params: { path: { id }, header: { "If-Match": etag } },
});
expect("deleteArticle", "stale If-Match", staleDelete, 412, "precondition_failed");
const deleted = await client.DELETE("/api/v1/articles/{id}", {
  params: { path: { id }, header: { "If-Match": newEtag } },
});
expect("deleteArticle", "current If-Match", deleted, 204);

// No token at all.
const noToken = await anonymous.GET("/api/v1/me");
expect("getMe", "without a token", noToken, 401, "missing_token");
check(noToken.response.headers.get("WWW-Authenticate")?.startsWith("Bearer") === true, "WWW-Authenticate");

// Logging out revokes the token it is called with.
expect("logout", "", await leaving.POST("/api/v1/logout"), 204);
expect("getMe", "after logout", await leaving.GET("/api/v1/me"), 401, "token_revoked");

// Every operation of the document, no more, no less.
const document = (await (await fetch(`${baseUrl}/api/openapi.json`)).json()) as {
  paths: Record<string, Record<string, { operationId?: string }>>;
};
const operations = new Set(
  Object.values(document.paths).flatMap((item) => Object.values(item).map((op) => op.operationId ?? "")),
);
console.log(`ts: operations exercised: ${[...exercised].sort().join(", ")}`);
const missing = [...operations].filter((op) => !exercised.has(op));
const unknown = [...exercised].filter((op) => !operations.has(op));
check(missing.length === 0, `not exercised: ${missing.join(", ")}`);
check(unknown.length === 0, `not in the document: ${unknown.join(", ")}`);

// Never called. Were the generated types loose (`any`, plain `string`), these lines would
// compile, and tsc would fail on the unused @ts-expect-error.
export async function precision(): Promise<void> {
  // @ts-expect-error: "newest" is not an ordering
  await client.GET("/api/v1/articles", { params: { query: { ordering: "newest" } } });
  // @ts-expect-error: email is read-only: not in MePatch. openapi-fetch alone lets an unknown
  // property through (openapi-ts/openapi-typescript#2329); `satisfies` has tsc check the body.
  await client.PATCH("/api/v1/me", { body: { email: "someone@example.com" } satisfies MePatch });
  // @ts-expect-error: a new article needs a name
  await client.POST("/api/v1/articles", { body: { body: "no name" } });
  // @ts-expect-error: the path needs its id
  await client.GET("/api/v1/articles/{id}", { params: { path: {} } });
  // @ts-expect-error: If-Match is a string
  await client.DELETE("/api/v1/articles/{id}", { params: { path: { id: "x" }, header: { "If-Match": 1 } } });
  // @ts-expect-error: no such route
  await client.GET("/api/v1/users", {});
  const { data, error } = await client.GET("/api/v1/articles");
  if (data !== undefined) {
    // @ts-expect-error: next is null on the last page
    const next: string = data.next;
    // @ts-expect-error: noUncheckedIndexedAccess: there may be no first item
    const first: string = data.items[0].name;
    void [next, first];
  }
  // @ts-expect-error: not a code the server sends: ErrorCode is a union of the codes
  check(error?.error.code !== "no_such_code", "");
}
