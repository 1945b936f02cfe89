/**
 * Type-level rules of the canvas: what a step of a chain may receive, what a group's members
 * have in common, and what a group returns. Checked at compile time only; see the README's
 * "What the types check".
 */
import type { AcceptsResult, ArgsOf, ResultOf, Signature, StepMismatch } from '@tq/core';

/** Any signature, whatever its argument and result types. */
export type AnySignature = Signature<unknown[], unknown>;

type UnionToIntersection<U> = (U extends unknown ? (k: U) => void : never) extends (k: infer I) => void ? I : never;

/** The call-time arguments of the mutable members (immutable ones take anything). */
type MutableArgs<S> = S extends unknown ? (unknown[] extends ArgsOf<S> ? never : ArgsOf<S>) : never;

/**
 * The call-time arguments a group (or a chord header) can be called with: arguments are
 * prepended to every member, so they must suit every mutable member. `unknown[]` when every
 * member is immutable.
 */
export type CommonArgs<S extends readonly unknown[]> = [MutableArgs<S[number]>] extends [never]
  ? unknown[]
  : UnionToIntersection<MutableArgs<S[number]>> extends infer I extends unknown[]
    ? I
    : unknown[];

/** The results of a list of signatures, position by position (a tuple for a tuple). */
export type ResultsOf<S extends readonly unknown[]> = { -readonly [K in keyof S]: ResultOf<S[K]> };

/**
 * `S` with every step that cannot take its predecessor's result replaced by a type no
 * signature satisfies (so that the call is a compile error naming the expected result).
 */
export type ValidChain<S extends readonly unknown[], Prev = unknown> = S extends readonly [infer H, ...infer T]
  ? [AcceptsResult<ArgsOf<H>, Prev> extends true ? H : H & StepMismatch<Prev>, ...ValidChain<T, ResultOf<H>>]
  : S;

/** The last element of a tuple (the element type for a plain array). */
export type Last<S extends readonly unknown[]> = S extends readonly [...unknown[], infer L] ? L : S[number];
