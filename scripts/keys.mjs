#!/usr/bin/env node
// Keys for ALGORITHM=ES256 or EdDSA (README, "Keys and rotation").
//
//   npm run keys -- new ES256|EdDSA [state]   a new private JWK (state: standby by default), its
//                                             kid, and the secret's JSON with it
//   npm run keys -- show [file]               kid, alg and state of every key of a
//                                             JWT_PRIVATE_JWKS document (file or stdin); never
//                                             prints a private part
//
// Uses Node's WebCrypto only; nothing leaves the machine.
import { readFileSync } from "node:fs";
import { webcrypto } from "node:crypto";

const { subtle } = webcrypto;
const STATES = ["active", "standby", "previous"];

/** The RFC 7638 thumbprint of a public EC or OKP JWK: the Worker's `kid`. */
async function thumbprint(jwk) {
  const members =
    jwk.kty === "EC"
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  const digest = await subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(members)));
  return Buffer.from(digest).toString("base64url");
}

function algOf(jwk) {
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "ES256";
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "EdDSA";
  return `unsupported (kty ${jwk.kty}, crv ${jwk.crv})`;
}

async function newKey(alg, state) {
  const params = { ES256: { name: "ECDSA", namedCurve: "P-256" }, EdDSA: { name: "Ed25519" } }[alg];
  if (!params) fail("usage: npm run keys -- new ES256|EdDSA [active|standby|previous]");
  if (!STATES.includes(state)) fail(`state must be one of ${STATES.join(", ")}`);
  const pair = await subtle.generateKey(params, true, ["sign", "verify"]);
  const raw = await subtle.exportKey("jwk", pair.privateKey);
  const jwk = { kty: raw.kty, crv: raw.crv, x: raw.x, ...(raw.y ? { y: raw.y } : {}), d: raw.d };
  const kid = await thumbprint(jwk);
  const entry = { ...jwk, kid, alg, state };
  console.log(`kid: ${kid}`);
  console.log(`alg: ${alg}`);
  console.log(`state: ${state}`);
  console.log("");
  console.log("The key, to add to the \"keys\" array of JWT_PRIVATE_JWKS (keep it secret):");
  console.log(JSON.stringify(entry));
  console.log("");
  console.log("A whole JWT_PRIVATE_JWKS with only this key (for a first deployment, make it active):");
  console.log(JSON.stringify({ keys: [entry] }));
}

async function show(file) {
  const text = file ? readFileSync(file, "utf8") : readFileSync(0, "utf8");
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    fail('not JSON: expected {"keys":[…]}');
  }
  if (!doc || !Array.isArray(doc.keys)) fail('expected {"keys":[…]}');
  let active = 0;
  for (const [i, jwk] of doc.keys.entries()) {
    const kid = await thumbprint(jwk);
    const state = STATES.includes(jwk.state) ? jwk.state : `invalid (${JSON.stringify(jwk.state)})`;
    if (jwk.state === "active") active += 1;
    const notes = [];
    if (jwk.kid !== undefined && jwk.kid !== kid) notes.push("its kid member is not the thumbprint");
    notes.push(jwk.d ? "private part present" : "public only");
    console.log(`#${i + 1} kid ${kid}  alg ${algOf(jwk)}  state ${state}  (${notes.join("; ")})`);
  }
  if (active !== 1) {
    console.log(`warning: ${active} active keys; exactly one must be active`);
    process.exitCode = 1;
  }
}

function fail(message) {
  console.error(message);
  process.exit(2);
}

const [command, arg, extra] = process.argv.slice(2);
if (command === "new") await newKey(arg, extra ?? "standby");
else if (command === "show") await show(arg);
else fail("usage: npm run keys -- new ES256|EdDSA [state] | npm run keys -- show [file]");
