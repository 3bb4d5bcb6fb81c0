import assert from "node:assert/strict";
import { admissionCheck, requestUrl } from "../../src/metadata/admission.ts";

Deno.test("requestUrl keeps path and query when the Host makes the URL unparsable", () => {
  for (const host of ["a:b:c", "[::1", "exa mple", "x:99999999"]) {
    const url = requestUrl(`http://${host}/computeMetadata/v1/project/project-id?alt=json`);
    assert.equal(url.pathname, "/computeMetadata/v1/project/project-id", host);
    assert.equal(url.search, "?alt=json", host);
  }
  assert.equal(requestUrl("http://a:b:c").pathname, "/");
  const normal = requestUrl("http://127.0.0.1:8173/computeMetadata/v1/../v1/?recursive=true");
  assert.equal(normal.host, "127.0.0.1:8173");
  assert.equal(normal.pathname, "/computeMetadata/v1/", "dot segments resolve as before");
});

Deno.test("an unparsable Host is refused by the Host rule, not answered 500", () => {
  const admit = admissionCheck((host) => host === "127.0.0.1:8173");
  const headers = new Headers({ host: "a:b:c", "metadata-flavor": "Google" });
  const path = requestUrl("http://a:b:c/computeMetadata/v1/").pathname;
  assert.equal(admit("GET", headers, path, false)?.status, 403);
});
