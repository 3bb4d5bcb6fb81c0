/**
 * The real gate (under its pinned `--allow-run=zenity,osascript`) asking through a fake `zenity`
 * found on its PATH, which records its argv and stdin and answers with a chosen exit code.
 */
import assert from "node:assert/strict";
import { exists, startProdStack, waitForFile } from "./prod_stack.ts";

async function fakeZenity(dir: string, code: number): Promise<void> {
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/bin/zenity`,
    [
      "#!/bin/sh",
      `for a in "$@"; do printf '%s\\n' "$a"; done > "${dir}/zenity.args"`,
      `cat > "${dir}/zenity.stdin"`,
      `exit ${code}`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
}

for (const [code, approved] of [[0, true], [1, false]] as const) {
  Deno.test(`gate with a display: zenity exit ${code} ${approved ? "allows" : "denies"}`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await fakeZenity(dir, code);
      await using s = await startProdStack({
        gateEnv: { DISPLAY: ":99", PATH: `${dir}/bin:${Deno.env.get("PATH")}` },
      });
      const marker = `${dir}/ran`;
      const wp = s.withProd(["bash", "-c", `touch ${marker}`, "--api-key=s3cr3t"]);
      const status = await wp.child.status;
      await wp.stop();
      // A human's no is with-prod's exit 80 (src/with_prod/outcome.ts), not a generic failure.
      assert.equal(status.code, approved ? 0 : 80, wp.output());
      assert.equal(await exists(marker), approved);
      const args = (await waitForFile(`${dir}/zenity.args`)).trim().split("\n");
      assert.equal(args[0], "--text-info");
      assert.ok(!args.join("\n").includes("touch"), "no command text in the dialog's argv");
      const stdin = await waitForFile(`${dir}/zenity.stdin`);
      const pairing = /\nPairing code: ([0-9A-Z]{3}-[0-9A-Z]{3}) \(with-prod prints it/.exec(stdin)
        ?.[1];
      assert.ok(pairing, stdin);
      assert.ok(wp.output().includes(`pairing code ${pairing}`), "with-prod printed the same code");
      // The gate's kernel-peer listener saw with-prod itself, whose argv ends with the command.
      assert.match(stdin, /\nRequested by: uid \d+, pid \d+, \/\S+\n/);
      assert.match(stdin, /\nCommand check: the requester's kernel argv ends with the reported/);
      assert.match(
        stdin,
        /^Grant prod-level GCP access to engineer@example\.com\?\n\nPairing code: .*\nRequested by: [^\n]+\n[\s\S]*\nFull command as reported by the client \(4 arguments\):\n/,
      );
      assert.match(stdin, /\n {2}3 {2}touch .*\/ran\n {2}4 {2}--api-key=\*\*\*\n$/);
      assert.ok(!stdin.includes("s3cr3t"));
      assert.equal(s.gate.output().includes("pending approval"), false, "nothing was queued");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
