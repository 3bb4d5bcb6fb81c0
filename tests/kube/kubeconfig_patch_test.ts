import assert from "node:assert/strict";
import { parse } from "yaml";
import {
  INSTALL_HINT,
  isGkePlugin,
  KubeconfigError,
  patchKubeconfig,
} from "../../src/kube/kubeconfig_patch.ts";
import { GKE_KUBECONFIG } from "./fixtures.ts";

const TARGET = { command: "/opt/authcalator", args: ["kube-token"] };

Deno.test("patchKubeconfig rewrites every GKE plugin user and nothing else", () => {
  const { text, patched } = patchKubeconfig(GKE_KUBECONFIG, TARGET, "cfg");
  assert.deepEqual(patched, ["gke_proj_zone_one", "gke_proj_zone_two"]);
  const before = parse(GKE_KUBECONFIG);
  const after = parse(text);
  assert.deepEqual(after.users[0].user.exec, {
    apiVersion: "client.authentication.k8s.io/v1beta1",
    command: "/opt/authcalator",
    args: ["kube-token"],
    installHint: INSTALL_HINT,
    provideClusterInfo: true,
    interactiveMode: "IfAvailable",
  });
  assert.deepEqual(after.users[2].user.exec, {
    apiVersion: "client.authentication.k8s.io/v1",
    command: "/opt/authcalator",
    args: ["kube-token"],
    installHint: INSTALL_HINT,
    provideClusterInfo: true,
  });
  // Everything else is as it was.
  assert.deepEqual(after.users[1], before.users[1]);
  assert.deepEqual(after.users[3], before.users[3]);
  for (
    const key of ["apiVersion", "clusters", "contexts", "current-context", "kind", "preferences"]
  ) {
    assert.deepEqual(after[key], before[key], key);
  }
  assert.deepEqual(Object.keys(after), Object.keys(before));
});

Deno.test("patchKubeconfig keeps comments, key order and kubectl's sequence style", () => {
  const { text } = patchKubeconfig(GKE_KUBECONFIG, TARGET, "cfg");
  assert.ok(text.startsWith("# head comment\napiVersion: v1\nclusters:\n- cluster:\n"));
  assert.match(text, /certificate-authority-data: LS0tQ0E= # the CA\n/);
  assert.match(text, /users:\n# the GKE user\n- name: gke_proj_zone_one\n/);
  assert.match(text, /token: kubernetes-static-token # keep me\n/);
  // args sits right after command; the env block is gone.
  assert.match(
    text,
    /command: \/opt\/authcalator\n {6}args:\n {6}- kube-token\n {6}installHint: /,
  );
  assert.doesNotMatch(text, /CLOUDSDK_CORE_PROJECT/);
  // The untouched aws user keeps its flow sequence.
  assert.match(text, /command: aws\n {6}args: \[ eks, get-token \]\n$/);
});

Deno.test("patchKubeconfig is idempotent: a second pass finds nothing to do", () => {
  const once = patchKubeconfig(GKE_KUBECONFIG, TARGET, "cfg");
  const twice = patchKubeconfig(once.text, TARGET, "cfg");
  assert.deepEqual(twice.patched, []);
  assert.equal(twice.text, once.text);
});

Deno.test("patchKubeconfig keeps an indented sequence style when the file uses it", () => {
  const indented = `users:
  - name: a
    user:
      exec:
        command: gke-gcloud-auth-plugin
`;
  const { text } = patchKubeconfig(indented, TARGET, "cfg");
  assert.match(text, /^users:\n {2}- name: a\n/);
  assert.match(text, /command: \/opt\/authcalator\n {8}args:\n {10}- kube-token\n/);
});

Deno.test("patchKubeconfig writes from-source targets as a plain argument list", () => {
  const target = {
    command: "/usr/bin/deno",
    args: ["run", "--no-config", "--allow-net=127.0.0.1:8173", "/src/kube/entry.ts"],
  };
  const { text } = patchKubeconfig(GKE_KUBECONFIG, target, "cfg");
  assert.deepEqual(parse(text).users[0].user.exec.args, target.args);
});

Deno.test("patchKubeconfig leaves files without GKE users unchanged", () => {
  for (
    const src of [
      "apiVersion: v1\nkind: Config\n",
      "users: []\n",
      "users: not-a-list\n",
      "users:\n- just-a-string\n- name: x\n  user: 5\n- name: y\n  user:\n    exec: 3\n",
      "users:\n- name: z\n  user:\n    exec:\n      command: [gke-gcloud-auth-plugin]\n",
      "users:\n- name: w\n  user:\n    exec:\n      command: my-gke-gcloud-auth-plugin\n",
    ]
  ) {
    assert.deepEqual(
      patchKubeconfig(src, TARGET, "cfg"),
      { text: src, patched: [], current: [] },
      src,
    );
  }
});

Deno.test("patchKubeconfig rejects empty, scalar and non-mapping files", () => {
  const cases: [string, RegExp][] = [
    ["", /^cfg is empty$/],
    ["# just a comment\n", /^cfg is empty$/],
    ["hello\n", /top level is not a mapping/],
    ["~\n", /top level is not a mapping/],
    ["- a\n- b\n", /top level is not a mapping/],
  ];
  for (const [src, pattern] of cases) {
    assert.throws(() => patchKubeconfig(src, TARGET, "cfg"), (err: Error) => {
      assert.ok(err instanceof KubeconfigError);
      assert.match(err.message, pattern);
      return true;
    });
  }
});

Deno.test("patchKubeconfig reports bad YAML by position, never quoting the file", () => {
  const cases: [string, RegExp][] = [
    ["token: super-secret-value: x\n", /^cfg is not valid YAML at line 1, column \d+: .+ \(\w+\)$/],
    ["a: 1\na: 2\n", /at line 2, column 1: Map keys must be unique \(DUPLICATE_KEY\)$/],
    ["a: 1\n---\nb: 2\n", /\(MULTIPLE_DOCS\)$/],
    ["users:\n  - name: [unclosed\n    token: super-secret-value\n", /not valid YAML/],
  ];
  for (const [src, pattern] of cases) {
    assert.throws(() => patchKubeconfig(src, TARGET, "cfg"), (err: Error) => {
      assert.ok(err instanceof KubeconfigError);
      assert.match(err.message, pattern);
      assert.doesNotMatch(err.message, /super-secret-value|\n/);
      return true;
    });
  }
});

Deno.test("isGkePlugin matches the bare name and any path ending in it", () => {
  assert.ok(isGkePlugin("gke-gcloud-auth-plugin"));
  assert.ok(isGkePlugin("/usr/bin/gke-gcloud-auth-plugin"));
  assert.ok(!isGkePlugin("gke-gcloud-auth-plugin.exe"));
  assert.ok(!isGkePlugin("/x/my-gke-gcloud-auth-plugin"));
  assert.ok(!isGkePlugin(undefined));
});

Deno.test("patchKubeconfig repairs what an earlier kube-setup wrote when the command moved", () => {
  const once = patchKubeconfig(GKE_KUBECONFIG, TARGET, "cfg");
  const moved = { command: "/home/u/.deno/bin/authcalator", args: ["kube-token"] };
  const again = patchKubeconfig(once.text, moved, "cfg");
  assert.deepEqual(again.patched, ["gke_proj_zone_one", "gke_proj_zone_two"]);
  assert.deepEqual(again.current, []);
  const users = parse(again.text).users;
  assert.equal(users[0].user.exec.command, moved.command);
  assert.equal(users[2].user.exec.command, moved.command);
  assert.equal(users[3].user.exec.command, "aws");
  assert.deepEqual(patchKubeconfig(again.text, moved, "cfg").current, [
    "gke_proj_zone_one",
    "gke_proj_zone_two",
  ]);
});

Deno.test("patchKubeconfig repairs the old from-source form (deno run … kube_token_entry.ts)", () => {
  const old = `users:
- name: from-source
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: /root/.npm/_npx/7a/node_modules/deno/deno
      args:
      - run
      - --allow-net=127.0.0.1:8173
      - /work/old-checkout/src/kube/kube_token_entry.ts
- name: someone-elses-kube-token
  user:
    exec:
      command: /usr/bin/other
      args: [fetch]
- name: another-tool-taking-kube-token
  user:
    exec:
      command: /usr/bin/othertool
      args: [kube-token]
- name: a-renamed-binary
  user:
    exec:
      command: /opt/bin/authcalator-linux-x64
      args: [kube-token]
`;
  const { text, patched } = patchKubeconfig(old, TARGET, "cfg");
  assert.deepEqual(patched, ["from-source", "a-renamed-binary"]);
  const users = parse(text).users;
  assert.deepEqual(users[0].user.exec.args, ["kube-token"]);
  assert.equal(users[0].user.exec.installHint, INSTALL_HINT);
  assert.equal(users[1].user.exec.command, "/usr/bin/other");
  assert.equal(users[2].user.exec.command, "/usr/bin/othertool");
  assert.equal(users[3].user.exec.command, TARGET.command);
});
