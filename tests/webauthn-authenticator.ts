// A software authenticator for the passkey specs: keys from node:crypto, authenticator data and
// the attestation object built byte by byte (a small CBOR encoder), independently of the Worker's
// parser. It answers in djoser's field encodings: base64url clientData/attObj/authData, hex
// signature.
import { createHash, generateKeyPairSync, KeyObject, randomBytes, sign } from "node:crypto";

type Cbor = number | string | Uint8Array | Map<Cbor, Cbor> | Cbor[];

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

/** CBOR (RFC 8949) of the few types WebAuthn uses. */
export function cbor(value: Cbor): Buffer {
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const parts = [head(5, value.size)];
  for (const [k, v] of value) parts.push(cbor(k), cbor(v));
  return Buffer.concat(parts);
}

export const b64u = (data: Uint8Array | string): string => Buffer.from(data).toString("base64url");
const sha256 = (data: Uint8Array | string): Buffer => createHash("sha256").update(data).digest();

export const UP = 0x01;
export const UV = 0x04;
export const AT = 0x40;

export interface Ceremony {
  challenge: string;
  origin?: string;
  type?: string;
  rpId?: string;
  flags?: number;
}

export type Alg = "ES256" | "EdDSA" | "RS256";
const COSE_ALG: Record<Alg, number> = { ES256: -7, EdDSA: -8, RS256: -257 };

function keyPair(alg: Alg, rsaBits: number) {
  if (alg === "ES256") return generateKeyPairSync("ec", { namedCurve: "P-256" });
  if (alg === "RS256") return generateKeyPairSync("rsa", { modulusLength: rsaBits, publicExponent: 65537 });
  return generateKeyPairSync("ed25519");
}

/** One credential on a software authenticator (RS256: `rsaBits`, 2048 unless told). */
export class SoftKey {
  readonly id: Buffer = randomBytes(16);
  counter = 0;
  private readonly priv: KeyObject;
  private readonly pub: KeyObject;

  constructor(
    readonly alg: Alg = "ES256",
    readonly rpId = "localhost",
    readonly origin = "http://localhost:3000",
    rsaBits = 2048,
  ) {
    const pair = keyPair(alg, rsaBits);
    this.priv = pair.privateKey;
    this.pub = pair.publicKey;
  }

  get credentialId(): string {
    return b64u(this.id);
  }

  /** The COSE_Key of the public key. */
  cose(): Buffer {
    const jwk = this.pub.export({ format: "jwk" }) as { x: string; y?: string; n?: string; e?: string };
    if (this.alg === "RS256") {
      // RFC 8230: kty RSA (3), n at -1, e at -2.
      const n = Buffer.from(jwk.n!, "base64url");
      const e = Buffer.from(jwk.e!, "base64url");
      return cbor(new Map<Cbor, Cbor>([[1, 3], [3, -257], [-1, n], [-2, e]]));
    }
    const x = Buffer.from(jwk.x, "base64url");
    if (this.alg === "ES256") {
      const y = Buffer.from(jwk.y!, "base64url");
      return cbor(new Map<Cbor, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, x], [-3, y]]));
    }
    return cbor(new Map<Cbor, Cbor>([[1, 1], [3, -8], [-1, 6], [-2, x]]));
  }

  clientData(c: Ceremony, type: string): Buffer {
    return Buffer.from(
      JSON.stringify({ type: c.type ?? type, challenge: c.challenge, origin: c.origin ?? this.origin, crossOrigin: false }),
    );
  }

  authData(c: Ceremony, attested: boolean): Buffer {
    const flags = c.flags ?? (UP | UV);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter);
    const parts = [sha256(c.rpId ?? this.rpId), Buffer.from([attested ? flags | AT : flags]), count];
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.id.length);
      parts.push(Buffer.alloc(16), len, this.id, this.cose());
    }
    return Buffer.concat(parts);
  }

  sign(data: Buffer): Buffer {
    if (this.alg === "ES256") return sign("sha256", data, { key: this.priv, dsaEncoding: "der" });
    // An RSA key signs RSASSA-PKCS1-v1_5 by default.
    if (this.alg === "RS256") return sign("sha256", data, this.priv);
    return sign(null, data, this.priv);
  }

  /** navigator.credentials.create()'s answer, as djoser's signup takes it. */
  create(c: Ceremony, fmt: "none" | "packed" = "none"): { clientData: string; attObj: string } {
    const clientData = this.clientData(c, "webauthn.create");
    const authData = this.authData(c, true);
    const stmt =
      fmt === "none"
        ? new Map<Cbor, Cbor>()
        : new Map<Cbor, Cbor>([
            ["alg", COSE_ALG[this.alg]],
            ["sig", this.sign(Buffer.concat([authData, sha256(clientData)]))],
          ]);
    const attObj = cbor(new Map<Cbor, Cbor>([["fmt", fmt], ["attStmt", stmt], ["authData", authData]]));
    return { clientData: b64u(clientData), attObj: b64u(attObj) };
  }

  /** navigator.credentials.get()'s answer (the counter moves first, as an authenticator's does). */
  get(c: Ceremony, step = 1): { id: string; clientData: string; authData: string; signature: string } {
    this.counter += step;
    const clientData = this.clientData(c, "webauthn.get");
    const authData = this.authData(c, false);
    const signature = this.sign(Buffer.concat([authData, sha256(clientData)]));
    return { id: this.credentialId, clientData: b64u(clientData), authData: b64u(authData), signature: signature.toString("hex") };
  }
}
