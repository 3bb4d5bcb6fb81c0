// Node.js (real node, CommonJS) google-auth-library against the container's metadata proxy.
// argv[2]: the checkout's node_modules. Prints `key: value` lines; exits 1 on failure.
const { GoogleAuth } = require(`${process.argv[2]}/google-auth-library`);

(async () => {
  const auth = new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] });
  const client = await auth.getClient();
  console.log(`client type: ${client.constructor.name}`);
  console.log(`token: ${await auth.getAccessToken()}`);
})().catch((err) => {
  console.error(`node client: ${err.message}`);
  process.exit(1);
});
