import { keccak_256 } from '@noble/hashes/sha3.js'
import * as secp from 'tiny-secp256k1'
import {
  type Address,
  encodeAbiParameters,
  getAddress,
  type Hex,
  isAddress,
  isHex,
  keccak256,
  type LocalAccount,
  recoverTypedDataAddress,
  stringToHex,
} from 'viem'

/**
 * Payment-channel vouchers: EIP-712 typed data signed by the payer.
 *
 *   Voucher(bytes32 channel, uint256 cumulativeAmount, bytes32 royaltyRoot)
 *   domain: { name: "PRSM PaymentChannels", version: "1", chainId, verifyingContract: channels }
 *   royaltyRoot = keccak256(abi.encode(address[] creators, uint256[] cumulativeRoyalties))
 *
 * Hashing is done by hand (two keccak calls over fixed-size buffers) and signatures are checked
 * with libsecp256k1 compiled to WebAssembly (tiny-secp256k1), against a public key cached per
 * payer: about 8x faster than viem's pure-JS recovery, with the same results.
 */

export const VOUCHER_DOMAIN_NAME = 'PRSM PaymentChannels'
export const VOUCHER_DOMAIN_VERSION = '1'

/** The EIP-712 types, for viem's signTypedData / verifyTypedData. */
export const VOUCHER_TYPES = {
  Voucher: [
    { name: 'channel', type: 'bytes32' },
    { name: 'cumulativeAmount', type: 'uint256' },
    { name: 'royaltyRoot', type: 'bytes32' },
  ],
} as const

export interface VoucherDomain {
  name: typeof VOUCHER_DOMAIN_NAME
  version: typeof VOUCHER_DOMAIN_VERSION
  chainId: number
  verifyingContract: Address
}

/** One creator's cumulative royalty on a channel. */
export interface RoyaltyEntry {
  creator: Address
  amount: bigint
}

/** A cumulative royalty table: creators strictly ascending by address (see normalizeRoyalties). */
export type RoyaltyTable = readonly RoyaltyEntry[]

export interface Voucher {
  /** Channel id (bytes32). */
  channel: Hex
  /** Running total owed to the payee, in wei, royalties and fee included. */
  cumulativeAmount: bigint
  /** Running royalty total per creator, part of `cumulativeAmount`. */
  royalties: RoyaltyTable
}

export interface SignedVoucher extends Voucher {
  /** 65-byte r ‖ s ‖ v signature by the payer. */
  signature: Hex
}

/** The JSON form of a signed voucher (amounts as decimal strings). */
export interface VoucherJson {
  channel: Hex
  cumulativeAmount: string
  royalties: { creator: Address; amount: string }[]
  signature: Hex
}

/** The arguments PaymentChannels.claim/close take for a voucher. */
export interface ContractVoucher {
  cumulativeAmount: bigint
  creators: Address[]
  royalties: bigint[]
  signature: Hex
}

export function voucherDomain(chainId: number, verifyingContract: Address): VoucherDomain {
  return {
    name: VOUCHER_DOMAIN_NAME,
    version: VOUCHER_DOMAIN_VERSION,
    chainId,
    verifyingContract: getAddress(verifyingContract),
  }
}

const UINT256_MAX = 2n ** 256n - 1n
const HALF_N = Buffer.from('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0', 'hex')

const VOUCHER_TYPEHASH = hexBytes(
  keccak256(stringToHex('Voucher(bytes32 channel,uint256 cumulativeAmount,bytes32 royaltyRoot)')),
)
const DOMAIN_TYPEHASH = keccak256(
  stringToHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
)

/** Sorts a royalty table by creator, checksums addresses, rejects duplicates and bad amounts. */
export function normalizeRoyalties(entries: readonly RoyaltyEntry[]): RoyaltyEntry[] {
  const table = entries.map((e) => {
    if (!isAddress(e.creator, { strict: false })) throw new TypeError(`bad creator address ${e.creator}`)
    if (e.amount < 0n || e.amount > UINT256_MAX) throw new RangeError(`bad royalty amount ${e.amount}`)
    return { creator: getAddress(e.creator), amount: e.amount }
  })
  table.sort((a, b) => (BigInt(a.creator) < BigInt(b.creator) ? -1 : 1))
  for (let i = 1; i < table.length; i++) {
    if (table[i]?.creator === table[i - 1]?.creator)
      throw new TypeError(`duplicate creator ${table[i]?.creator}`)
  }
  return table
}

/** True when creators are strictly ascending and non-zero, as the contract requires. */
export function isCanonicalRoyalties(table: RoyaltyTable): boolean {
  let previous = 0n
  for (const e of table) {
    const value = BigInt(e.creator)
    if (value <= previous || e.amount < 0n || e.amount > UINT256_MAX) return false
    previous = value
  }
  return true
}

export function royaltyTotal(table: RoyaltyTable): bigint {
  let total = 0n
  for (const e of table) total += e.amount
  return total
}

const EMPTY_ROOT = keccak256(encodeAbiParameters([{ type: 'address[]' }, { type: 'uint256[]' }], [[], []]))
const EMPTY_ROOT_BYTES = hexBytes(EMPTY_ROOT)

/** keccak256(abi.encode(address[] creators, uint256[] amounts)), the voucher's royaltyRoot. */
export function royaltyCommitment(table: RoyaltyTable): Hex {
  return bytesHex(royaltyRootBytes(table))
}

function royaltyRootBytes(table: RoyaltyTable): Uint8Array {
  const n = table.length
  if (n === 0) return EMPTY_ROOT_BYTES
  // Head: two offsets; then each array as length + n words.
  const buf = new Uint8Array(32 * (4 + 2 * n))
  writeWord(buf, 0, 64n)
  writeWord(buf, 32, BigInt(32 * (3 + n)))
  writeWord(buf, 64, BigInt(n))
  const second = 96 + 32 * n
  writeWord(buf, second, BigInt(n))
  for (let i = 0; i < n; i++) {
    const e = table[i] as RoyaltyEntry
    buf.set(hexBytes(e.creator), 96 + 32 * i + 12)
    writeWord(buf, second + 32 + 32 * i, e.amount)
  }
  return keccak_256(buf)
}

const domainCache = new WeakMap<VoucherDomain, Uint8Array>()

/** The EIP-712 domain separator (cached per domain object). */
export function domainSeparator(domain: VoucherDomain): Uint8Array {
  let sep = domainCache.get(domain)
  if (!sep) {
    sep = hexBytes(
      keccak256(
        encodeAbiParameters(
          [
            { type: 'bytes32' },
            { type: 'bytes32' },
            { type: 'bytes32' },
            { type: 'uint256' },
            { type: 'address' },
          ],
          [
            DOMAIN_TYPEHASH,
            keccak256(stringToHex(domain.name)),
            keccak256(stringToHex(domain.version)),
            BigInt(domain.chainId),
            domain.verifyingContract,
          ],
        ),
      ),
    )
    domainCache.set(domain, sep)
  }
  return sep
}

/** The 32-byte EIP-712 digest the payer signs (equal to PaymentChannels.voucherDigest). */
export function voucherDigest(domain: VoucherDomain, voucher: Voucher): Uint8Array {
  if (voucher.cumulativeAmount < 0n || voucher.cumulativeAmount > UINT256_MAX) {
    throw new RangeError('cumulativeAmount out of range')
  }
  const struct = new Uint8Array(128)
  struct.set(VOUCHER_TYPEHASH, 0)
  struct.set(bytes32(voucher.channel), 32)
  writeWord(struct, 64, voucher.cumulativeAmount)
  struct.set(royaltyRootBytes(voucher.royalties), 96)
  const msg = new Uint8Array(66)
  msg[0] = 0x19
  msg[1] = 0x01
  msg.set(domainSeparator(domain), 2)
  msg.set(keccak_256(struct), 34)
  return keccak_256(msg)
}

/** Signs a voucher with a raw private key (libsecp256k1, RFC 6979, low-s; same bytes as viem). */
export function signVoucher(
  voucher: Voucher,
  options: { domain: VoucherDomain; privateKey: Hex },
): SignedVoucher {
  const digest = voucherDigest(options.domain, voucher)
  const { signature, recoveryId } = secp.signRecoverable(digest, hexBytes(options.privateKey))
  const sig = new Uint8Array(65)
  sig.set(signature, 0)
  sig[64] = 27 + recoveryId
  return { ...voucher, signature: bytesHex(sig) }
}

/** Signs a voucher with any viem account (hardware wallets, remote signers): the slow path. */
export async function signVoucherWithAccount(
  voucher: Voucher,
  options: { domain: VoucherDomain; account: Pick<LocalAccount, 'signTypedData'> },
): Promise<SignedVoucher> {
  const signature = await options.account.signTypedData({
    domain: options.domain,
    types: VOUCHER_TYPES,
    primaryType: 'Voucher',
    message: {
      channel: voucher.channel,
      cumulativeAmount: voucher.cumulativeAmount,
      royaltyRoot: royaltyCommitment(voucher.royalties),
    },
  })
  return { ...voucher, signature }
}

/** Recovers the signer with viem (pure JS, ~8x slower; the reference the fast path is tested against). */
export async function recoverVoucherSigner(domain: VoucherDomain, voucher: SignedVoucher): Promise<Address> {
  return recoverTypedDataAddress({
    domain,
    types: VOUCHER_TYPES,
    primaryType: 'Voucher',
    message: {
      channel: voucher.channel,
      cumulativeAmount: voucher.cumulativeAmount,
      royaltyRoot: royaltyCommitment(voucher.royalties),
    },
    signature: voucher.signature,
  })
}

export interface VoucherVerifier {
  /**
   * True when `voucher.signature` is a valid low-s signature of the voucher by `payer`. The first
   * voucher of a payer is checked by public-key recovery and the key is cached; later ones by
   * ECDSA verification against the cached key. The `v` byte is a recovery hint only: use
   * `chainSignature` to get the exact bytes the contract accepts.
   */
  verify(voucher: SignedVoucher, payer: Address): boolean
  /** The signature with the `v` byte that makes the contract's ecrecover return `payer`. */
  chainSignature(voucher: SignedVoucher, payer: Address): Hex
  /** Number of payer keys cached. */
  readonly cachedKeys: number
}

export interface VoucherVerifierInit {
  /** Most payer keys kept (least recently added evicted first; default 100,000). */
  maxCachedKeys?: number
}

export function createVoucherVerifier(
  domain: VoucherDomain,
  init: VoucherVerifierInit = {},
): VoucherVerifier {
  const maxKeys = init.maxCachedKeys ?? 100_000
  const keys = new Map<string, Uint8Array>()

  const parse = (signature: Hex): { rs: Uint8Array; recovery: number } | undefined => {
    if (typeof signature !== 'string' || signature.length !== 132 || !isHex(signature)) return undefined
    const sig = hexBytes(signature)
    const v = sig[64] as number
    const recovery = v >= 27 ? v - 27 : v
    if (recovery !== 0 && recovery !== 1) return undefined
    const rs = sig.subarray(0, 64)
    const r = rs.subarray(0, 32)
    const sPart = rs.subarray(32, 64)
    if (Buffer.compare(sPart, HALF_N) > 0 || isZero(sPart) || isZero(r)) return undefined
    return { rs, recovery }
  }

  const recoverKey = (digest: Uint8Array, rs: Uint8Array, recovery: number): Uint8Array | null => {
    try {
      return secp.recover(digest, rs, recovery as 0 | 1, false)
    } catch {
      return null
    }
  }

  const recoverMatching = (digest: Uint8Array, rs: Uint8Array, payer: string): number | undefined => {
    for (const recovery of [0, 1]) {
      const pub = recoverKey(digest, rs, recovery)
      if (pub && publicKeyAddress(pub) === payer) {
        if (keys.size >= maxKeys) keys.delete(keys.keys().next().value as string)
        keys.set(payer, pub)
        return recovery
      }
    }
    return undefined
  }

  return {
    verify(voucher, payer) {
      const parsed = parse(voucher.signature)
      if (!parsed) return false
      let digest: Uint8Array
      try {
        digest = voucherDigest(domain, voucher)
      } catch {
        return false
      }
      const who = payer.toLowerCase()
      const key = keys.get(who)
      if (key) {
        try {
          return secp.verify(digest, key, parsed.rs, true)
        } catch {
          return false
        }
      }
      return recoverMatching(digest, parsed.rs, who) !== undefined
    },
    chainSignature(voucher, payer) {
      const parsed = parse(voucher.signature)
      if (!parsed) throw new Error('malformed voucher signature')
      const recovery = recoverMatching(voucherDigest(domain, voucher), parsed.rs, payer.toLowerCase())
      if (recovery === undefined) throw new Error('voucher not signed by the payer')
      const sig = new Uint8Array(65)
      sig.set(parsed.rs, 0)
      sig[64] = 27 + recovery
      return bytesHex(sig)
    },
    get cachedKeys() {
      return keys.size
    },
  }
}

/** The PaymentChannels.claim/close argument for a voucher. */
export function toContractVoucher(
  voucher: SignedVoucher,
  signature: Hex = voucher.signature,
): ContractVoucher {
  return {
    cumulativeAmount: voucher.cumulativeAmount,
    creators: voucher.royalties.map((e) => e.creator),
    royalties: voucher.royalties.map((e) => e.amount),
    signature,
  }
}

export function voucherToJson(voucher: SignedVoucher): VoucherJson {
  return {
    channel: voucher.channel,
    cumulativeAmount: voucher.cumulativeAmount.toString(),
    royalties: voucher.royalties.map((e) => ({ creator: e.creator, amount: e.amount.toString() })),
    signature: voucher.signature,
  }
}

/** Parses the JSON form; throws TypeError on malformed input (the signature is not checked here). */
export function voucherFromJson(json: unknown, options: { maxRoyalties?: number } = {}): SignedVoucher {
  const o = json as Partial<VoucherJson> | null
  const amount = (v: unknown, field: string): bigint => {
    if (typeof v !== 'string' || !/^\d{1,78}$/.test(v))
      throw new TypeError(`voucher ${field} is not a decimal amount`)
    const n = BigInt(v)
    if (n > UINT256_MAX) throw new TypeError(`voucher ${field} is out of range`)
    return n
  }
  if (typeof o !== 'object' || o === null) throw new TypeError('voucher is not an object')
  if (typeof o.channel !== 'string' || !isHex(o.channel) || o.channel.length !== 66) {
    throw new TypeError('voucher channel is not a bytes32')
  }
  if (typeof o.signature !== 'string' || !isHex(o.signature) || o.signature.length !== 132) {
    throw new TypeError('voucher signature is not 65 bytes')
  }
  if (!Array.isArray(o.royalties)) throw new TypeError('voucher royalties is not an array')
  if (o.royalties.length > (options.maxRoyalties ?? 64))
    throw new TypeError('voucher royalty table is too long')
  const royalties = o.royalties.map((e, i) => {
    if (typeof e?.creator !== 'string' || !isAddress(e.creator, { strict: false })) {
      throw new TypeError(`voucher royalties[${i}].creator is not an address`)
    }
    return { creator: getAddress(e.creator), amount: amount(e.amount, `royalties[${i}].amount`) }
  })
  if (!isCanonicalRoyalties(royalties))
    throw new TypeError('voucher royalty creators are not strictly ascending')
  return {
    channel: o.channel.toLowerCase() as Hex,
    cumulativeAmount: amount(o.cumulativeAmount, 'cumulativeAmount'),
    royalties,
    signature: o.signature,
  }
}

/** The Ethereum address of an uncompressed (65-byte) public key, lower case. */
function publicKeyAddress(pub: Uint8Array): string {
  return `0x${Buffer.from(keccak_256(pub.subarray(1)).subarray(12)).toString('hex')}`
}

function hexBytes(hex: string): Uint8Array {
  return Buffer.from(hex.slice(2), 'hex')
}

function bytesHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`
}

function bytes32(hex: Hex): Uint8Array {
  const b = hexBytes(hex)
  if (b.length !== 32) throw new TypeError('expected 32 bytes')
  return b
}

function writeWord(buf: Uint8Array, offset: number, value: bigint): void {
  if (value <= 0xffffffffffffffffn) {
    // Most amounts fit 64 bits: write them without a hex round trip (the buffer is zeroed).
    new DataView(buf.buffer, buf.byteOffset).setBigUint64(offset + 24, value)
    return
  }
  buf.set(Buffer.from(value.toString(16).padStart(64, '0'), 'hex'), offset)
}

function isZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false
  return true
}
