import { ftnsTokenAbi, peerBindingMessage, providerRegistryAbi, verifyPeerBinding } from '@prsm/contracts'
import { formatFtns as formatAmount, parseFtns as parseAmount } from '@prsm/core'
import { type Address, getAddress, type Hex, isAddress } from 'viem'
import { chainError, type LedgerChain, sendTx } from './chain.ts'
import { LedgerError } from './errors.ts'

export interface Balances {
  address: Address
  /** FTNS in wei. */
  ftns: bigint
  /** Native currency (gas) in wei. */
  eth: bigint
}

export interface StakeStatus {
  address: Address
  registered: boolean
  validator: boolean
  /** Counts in the validator set now (registered, flagged, at least the validator stake). */
  inValidatorSet: boolean
  stake: bigint
  unbonding: bigint
  /** Unix seconds when `unbonding` can be withdrawn (0 when nothing unbonds). */
  unbondingEnd: bigint
  peerId: Hex
}

/** What the node's libp2p identity provides to bind its PeerId to the wallet. */
export interface NodeKey {
  /** PeerId multihash bytes (`peerId.toMultihash().bytes`). */
  peerId: Uint8Array
  /** Signs with the node's libp2p private key (`privateKey.sign(data)`). */
  sign(data: Uint8Array): Promise<Uint8Array> | Uint8Array
}

export interface WalletComponents {
  chain: LedgerChain
  /** Needed only to register as a provider (`stakeAdd` on an unregistered wallet). */
  nodeKey?: NodeKey
}

type Opts = { signal?: AbortSignal }

export interface Wallet {
  readonly address: Address
  balance(options?: Opts & { of?: Address }): Promise<Balances>
  transfer(to: Address, amount: bigint, options?: Opts): Promise<{ hash: Hex }>
  /** Registers with `amount` of stake, or adds `amount` when already registered. */
  stakeAdd(
    amount: bigint,
    options?: Opts & { validator?: boolean },
  ): Promise<{ hash: Hex; registered: boolean }>
  /** Starts unbonding `amount` (all of it deregisters). */
  stakeUnbond(amount: bigint, options?: Opts): Promise<{ hash: Hex; unbondingEnd: bigint }>
  /** Withdraws stake whose unbonding period is over. */
  stakeWithdraw(options?: Opts): Promise<{ hash: Hex; amount: bigint }>
  stakeStatus(options?: Opts & { of?: Address }): Promise<StakeStatus>
  /**
   * A payee's wallet from a 0x address, or from a PeerId (base58 string or multihash bytes)
   * registered with a valid binding in the ProviderRegistry.
   */
  resolvePayee(peerOrAddress: string | Uint8Array, options?: Opts): Promise<Address>
}

/** Parses a decimal FTNS amount ("1.5") to wei (the one rule, in @prsm/economics); throws AMOUNT_INVALID. */
export function parseFtns(value: string): bigint {
  try {
    return parseAmount(value)
  } catch (err) {
    throw new LedgerError('AMOUNT_INVALID', `not an FTNS amount: ${value}`, { cause: err })
  }
}

/** Formats wei as a decimal FTNS string. */
export const formatFtns: (wei: bigint) => string = (wei) => formatAmount(wei)

export function createWallet(components: WalletComponents): Wallet {
  const { chain } = components
  const { token, providers } = chain.deployment.addresses
  const read = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (cause) {
      throw chainError(cause, what)
    }
  }
  const tokenBalance = (of: Address) =>
    read('balance', () =>
      chain.publicClient.readContract({
        address: token,
        abi: ftnsTokenAbi,
        functionName: 'balanceOf',
        args: [of],
      }),
    )
  const provider = (of: Address) =>
    read('provider', () =>
      chain.publicClient.readContract({
        address: providers,
        abi: providerRegistryAbi,
        functionName: 'getProvider',
        args: [of],
      }),
    )
  const approve = async (amount: bigint, opts: Opts) => {
    const allowance = await read('allowance', () =>
      chain.publicClient.readContract({
        address: token,
        abi: ftnsTokenAbi,
        functionName: 'allowance',
        args: [chain.address, providers],
      }),
    )
    if (allowance < amount) {
      await sendTx(
        chain,
        { address: token, abi: ftnsTokenAbi, functionName: 'approve', args: [providers, amount] },
        opts,
      )
    }
  }
  const positive = (amount: bigint) => {
    if (amount <= 0n) throw new LedgerError('AMOUNT_INVALID')
  }
  const signalOf = (o: Opts) => (o.signal ? { signal: o.signal } : {})

  return {
    address: chain.address,

    async balance(options = {}) {
      const of = options.of ?? chain.address
      const [ftns, eth] = await Promise.all([
        tokenBalance(of),
        read('balance', () => chain.publicClient.getBalance({ address: of })),
      ])
      return { address: of, ftns, eth }
    },

    async transfer(to, amount, options = {}) {
      positive(amount)
      const balance = await tokenBalance(chain.address)
      if (balance < amount) {
        throw new LedgerError('WALLET_INSUFFICIENT_FUNDS', undefined, {
          details: { balance: balance.toString(), needed: amount.toString() },
        })
      }
      const tx = await sendTx(
        chain,
        { address: token, abi: ftnsTokenAbi, functionName: 'transfer', args: [getAddress(to), amount] },
        signalOf(options),
      )
      return { hash: tx.hash }
    },

    async stakeAdd(amount, options = {}) {
      positive(amount)
      const p = await provider(chain.address)
      const balance = await tokenBalance(chain.address)
      if (balance < amount) {
        throw new LedgerError('WALLET_INSUFFICIENT_FUNDS', undefined, {
          details: { balance: balance.toString(), needed: amount.toString() },
        })
      }
      await approve(amount, options)
      if (p.registered) {
        const tx = await sendTx(
          chain,
          { address: providers, abi: providerRegistryAbi, functionName: 'addStake', args: [amount] },
          signalOf(options),
        )
        return { hash: tx.hash, registered: false }
      }
      const key = components.nodeKey
      if (!key) throw new LedgerError('STAKE_INVALID', 'registering needs the node key to bind the PeerId')
      const message = peerBindingMessage({
        peerId: key.peerId,
        wallet: chain.address,
        chainId: chain.deployment.chainId,
        registry: providers,
      })
      const binding = await key.sign(message)
      const tx = await sendTx(
        chain,
        {
          address: providers,
          abi: providerRegistryAbi,
          functionName: 'register',
          args: [toHex(key.peerId), toHex(binding), amount, options.validator ?? false],
        },
        signalOf(options),
      )
      return { hash: tx.hash, registered: true }
    },

    async stakeUnbond(amount, options = {}) {
      positive(amount)
      const tx = await sendTx(
        chain,
        { address: providers, abi: providerRegistryAbi, functionName: 'requestUnbond', args: [amount] },
        signalOf(options),
      )
      return { hash: tx.hash, unbondingEnd: (await provider(chain.address)).unbondingEnd }
    },

    async stakeWithdraw(options = {}) {
      const p = await provider(chain.address)
      const tx = await sendTx(
        chain,
        { address: providers, abi: providerRegistryAbi, functionName: 'withdraw' },
        signalOf(options),
      )
      return { hash: tx.hash, amount: p.unbonding }
    },

    async stakeStatus(options = {}) {
      const of = options.of ?? chain.address
      const [p, inSet] = await Promise.all([
        provider(of),
        read('validator', () =>
          chain.publicClient.readContract({
            address: providers,
            abi: providerRegistryAbi,
            functionName: 'isValidator',
            args: [of],
          }),
        ),
      ])
      return {
        address: of,
        registered: p.registered,
        validator: p.validator,
        inValidatorSet: inSet,
        stake: p.stake,
        unbonding: p.unbonding,
        unbondingEnd: p.unbondingEnd,
        peerId: p.peerId,
      }
    },

    async resolvePayee(peerOrAddress, options = {}) {
      options.signal?.throwIfAborted()
      if (typeof peerOrAddress === 'string' && isAddress(peerOrAddress, { strict: false }))
        return getAddress(peerOrAddress)
      let peerId: Uint8Array
      try {
        peerId = typeof peerOrAddress === 'string' ? base58Decode(peerOrAddress) : peerOrAddress
      } catch {
        throw new LedgerError('PAYEE_UNRESOLVED', 'not an address or a PeerId', {
          details: { peer: String(peerOrAddress) },
        })
      }
      const candidates = await read('providers of peer', () =>
        chain.publicClient.readContract({
          address: providers,
          abi: providerRegistryAbi,
          functionName: 'providersOfPeer',
          args: [toHex(peerId)],
        }),
      )
      for (const wallet of candidates) {
        const p = await provider(wallet)
        const signature = Buffer.from(p.binding.slice(2), 'hex')
        if (
          p.registered &&
          verifyPeerBinding({
            peerId,
            wallet,
            chainId: chain.deployment.chainId,
            registry: providers,
            signature,
          })
        ) {
          return wallet
        }
      }
      throw new LedgerError('PAYEE_UNRESOLVED', undefined, { details: { peer: String(peerOrAddress) } })
    },
  }
}

function toHex(bytes: Uint8Array): Hex {
  return `0x${Buffer.from(bytes).toString('hex')}`
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** Decodes a base58btc string (a PeerId's text form) to bytes. */
export function base58Decode(text: string): Uint8Array {
  let n = 0n
  for (const ch of text) {
    const d = B58.indexOf(ch)
    if (d < 0) throw new TypeError('not base58')
    n = n * 58n + BigInt(d)
  }
  let hex = n === 0n ? '' : n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  let zeros = 0
  while (text[zeros] === '1') zeros++
  return new Uint8Array([...new Uint8Array(zeros), ...Buffer.from(hex, 'hex')])
}
