import assert from "node:assert/strict";
import { kubeconfigPath } from "../../src/kube/kubeconfig_path.ts";

Deno.test("kubeconfigPath takes the first entry of a KUBECONFIG list", () => {
  assert.equal(kubeconfigPath({ KUBECONFIG: "/a/one:/b/two", HOME: "/h" }), "/a/one");
  assert.equal(kubeconfigPath({ KUBECONFIG: "/only", HOME: "/h" }), "/only");
});

Deno.test("kubeconfigPath skips empty entries", () => {
  assert.equal(kubeconfigPath({ KUBECONFIG: "::/b/two:/c", HOME: "/h" }), "/b/two");
});

Deno.test("kubeconfigPath falls back to ~/.kube/config", () => {
  assert.equal(kubeconfigPath({ HOME: "/home/u" }), "/home/u/.kube/config");
  assert.equal(kubeconfigPath({ KUBECONFIG: "", HOME: "/home/u" }), "/home/u/.kube/config");
  assert.equal(kubeconfigPath({ KUBECONFIG: ":", HOME: "/home/u" }), "/home/u/.kube/config");
});
