package account

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/ratelimit"
)

// Outcome is how a sign-in attempt ended.
type Outcome int

const (
	// SignedIn: the password is right and the account active.
	SignedIn Outcome = iota
	// Invalid: wrong identifier or password; the person is never told which.
	Invalid
	// Pending: the provisional password is right; the account must be
	// activated first.
	Pending
	// Choose: an address shared by several accounts, whose password fits
	// more than one; the person picks the identifier.
	Choose
	// Throttled: too many failures; wait RetryAfter.
	Throttled
)

// SignInResult is what the web layer needs to answer.
type SignInResult struct {
	Outcome    Outcome
	Account    Account
	Choices    []Account
	RetryAfter time.Duration
}

// Guard throttles password guesses, whatever the place the password is
// typed (sign-in, activation, the personal page), with three throttles:
// per account and source (the client's address), per account from every
// source, and per source. The first grows before the second, so that a
// stranger guessing from one place is slowed long before the owner, typing
// from elsewhere, is; the second bounds guesses spread over many sources.
// Each attempt is reserved before the password is checked (see
// ratelimit.Throttle.Attempt).
type Guard struct {
	perAccountSource *ratelimit.Throttle
	perAccount       *ratelimit.Throttle
	perSource        *ratelimit.Throttle
	key              []byte
	lister           ratelimit.ThrottleLister
	now              func() time.Time
}

// WithLister lets the office console see and lift an account's throttles.
func (g *Guard) WithLister(l ratelimit.ThrottleLister, now func() time.Time) *Guard {
	g.lister, g.now = l, now
	return g
}

// Block is one of an account's password throttles that makes it wait:
// from every source (Source false), or from one client address.
type Block struct {
	Source bool
	Until  time.Time
}

// Blocks lists the account's password throttles that make it wait now.
func (g *Guard) Blocks(ctx context.Context, accountID string) ([]Block, error) {
	if g.lister == nil {
		return nil, nil
	}
	bs, err := g.lister.BlockedKeys(ctx, accountKey(accountID), g.now())
	if err != nil {
		return nil, fmt.Errorf("account: throttles: %w", err)
	}
	var out []Block
	for _, b := range bs {
		out = append(out, Block{Source: b.Key != accountKey(accountID), Until: b.Until})
	}
	return out, nil
}

// Lift forgets the account's failures, from every source, and says how
// many throttles made it wait.
func (g *Guard) Lift(ctx context.Context, accountID string) (int, error) {
	if g.lister == nil {
		return 0, nil
	}
	bs, err := g.lister.BlockedKeys(ctx, accountKey(accountID), g.now())
	if err != nil {
		return 0, fmt.Errorf("account: throttles: %w", err)
	}
	if err := g.perAccount.Succeed(ctx, accountKey(accountID)); err != nil {
		return 0, err
	}
	for _, b := range bs {
		if b.Key != accountKey(accountID) {
			if err := g.perAccountSource.Succeed(ctx, b.Key); err != nil {
				return 0, err
			}
		}
	}
	return len(bs), nil
}

// NewGuard returns a Guard. key keys the hash of what was typed when it
// names no account, so that typed text is never stored.
func NewGuard(perAccountSource, perAccount, perSource *ratelimit.Throttle, key []byte) *Guard {
	return &Guard{perAccountSource: perAccountSource, perAccount: perAccount, perSource: perSource, key: key}
}

// accountKey is the throttle key of an account.
func accountKey(id string) string { return "pw:" + id }

// sourceKey narrows a throttle key to one client address.
func sourceKey(key, ip string) string { return key + "|" + ip }

// typedKey is the throttle key of text that names no account: unknown
// identifiers are throttled exactly as known ones, so throttling tells
// nothing.
func (g *Guard) typedKey(input string) string {
	norm := NormaliseIdentifier(input)
	if IsEmail(input) {
		norm = NormaliseEmail(input)
	}
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(norm))
	return "pw-typed:" + hex.EncodeToString(m.Sum(nil))[:32]
}

// Attempt reserves a guess at the password of candidates (the accounts
// what was typed names; none for unknown text) from ip. A positive wait
// means the password must not be checked.
func (g *Guard) Attempt(ctx context.Context, typed string, candidates []Account, ip string) (ratelimit.Tickets, time.Duration, error) {
	keys := []string{g.typedKey(typed)}
	if len(candidates) > 0 {
		keys = keys[:0]
		for _, c := range candidates {
			keys = append(keys, accountKey(c.ID))
		}
	}
	var guards []ratelimit.Keyed
	for _, k := range keys {
		guards = append(guards, ratelimit.Keyed{T: g.perAccountSource, Key: sourceKey(k, ip)})
	}
	for _, k := range keys {
		guards = append(guards, ratelimit.Keyed{T: g.perAccount, Key: k})
	}
	guards = append(guards, ratelimit.Keyed{T: g.perSource, Key: "pw-ip:" + ip})
	return ratelimit.AttemptAll(ctx, guards...)
}

// Succeed ends a reserved guess that found acc's password: the attempts
// are refunded and the account's failures forgotten.
func (g *Guard) Succeed(ctx context.Context, ts ratelimit.Tickets, acc Account, ip string) error {
	// The account's own throttles start a new generation (Clear), which
	// drops this attempt with the failures; the others (the source, the
	// other accounts of a shared address) are refunded. Two writes fewer
	// on the embedded store's single writer.
	cleared := map[string]bool{accountKey(acc.ID): true, sourceKey(accountKey(acc.ID), ip): true}
	var refund ratelimit.Tickets
	for _, t := range ts {
		if !cleared[t.Ticket.Key()] {
			refund = append(refund, t)
		}
	}
	if err := refund.Refund(ctx); err != nil {
		return err
	}
	return g.Clear(ctx, acc.ID, ip)
}

// Clear forgets an account's failures, and those from ip: after its
// password was reset, the person who proved they own it must not wait for
// a stranger's guesses. Another source's own throttle stays.
func (g *Guard) Clear(ctx context.Context, accountID, ip string) error {
	if err := g.perAccountSource.Succeed(ctx, sourceKey(accountKey(accountID), ip)); err != nil {
		return err
	}
	return g.perAccount.Succeed(ctx, accountKey(accountID))
}

// Authenticator checks identifiers (or e-mail addresses) and passwords.
type Authenticator struct {
	accounts Looker
	hasher   *Hasher
	guard    *Guard
	audit    audit.Recorder
	now      func() time.Time
	onRehash func(ctx context.Context, id, hash string) error
	floor    time.Duration
}

// WithFailureFloor makes every refused sign-in take at least d. Without it,
// timing tells apart what the answer hides: an address shared by several
// accounts costs one hash per account, and on the embedded store a missing
// identifier is looked up more slowly than an existing one. The wait costs
// no CPU; d should exceed the slowest refusal (a few hashes).
func (a *Authenticator) WithFailureFloor(d time.Duration) *Authenticator {
	a.floor = d
	return a
}

// NewAuthenticator returns an Authenticator. guard throttles the guesses;
// onRehash, if set, stores a hash upgraded to the current parameters after
// a successful sign-in.
func NewAuthenticator(accounts Looker, hasher *Hasher, guard *Guard, rec audit.Recorder, now func() time.Time, onRehash func(ctx context.Context, id, hash string) error) *Authenticator {
	return &Authenticator{accounts: accounts, hasher: hasher, guard: guard, audit: rec, now: now, onRehash: onRehash}
}

// candidates returns the accounts what was typed names.
func (a *Authenticator) candidates(ctx context.Context, input string) ([]Account, error) {
	if !Plausible(input) {
		return nil, nil
	}
	if IsEmail(input) {
		all, err := a.accounts.AccountsByEmail(ctx, input)
		if err != nil {
			return nil, fmt.Errorf("account: sign-in: %w", err)
		}
		return all, nil
	}
	acc, err := a.accounts.GetAccount(ctx, NormaliseIdentifier(input))
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("account: sign-in: %w", err)
	}
	return []Account{acc}, nil
}

// SignIn checks input (identifier or e-mail) and password. When the
// password fits several accounts of a shared address, the person picks one
// and signs in again with its identifier.
//
// Unknown identifiers cost the same as known ones: one argon2id hash
// (Burn), the same throttle reads and writes, the same answer.
func (a *Authenticator) SignIn(ctx context.Context, input, password, ip string) (res SignInResult, err error) {
	start := time.Now() // the real clock: the floor is about wall time
	defer func() {
		if err == nil && res.Outcome == Invalid && a.floor > 0 {
			PadTo(ctx, start, a.floor)
		}
	}()
	candidates, err := a.candidates(ctx, input)
	if err != nil {
		return SignInResult{}, err
	}
	tickets, w, err := a.guard.Attempt(ctx, input, candidates, ip)
	if err != nil {
		return SignInResult{}, err
	} else if w > 0 {
		a.record(ctx, "signin", "", ip, "throttled")
		return SignInResult{Outcome: Throttled, RetryAfter: w}, nil
	}

	var matches []Account
	var rehash []bool
	if len(candidates) == 0 {
		a.hasher.Burn(password)
	}
	expired := false
	for _, c := range candidates {
		ok, re, err := a.hasher.Verify(c.PasswordHash, password)
		if err != nil && !errors.Is(err, ErrBadHash) {
			return SignInResult{}, err
		}
		if ok && c.ProvisionalExpired(a.now()) {
			// A letter past its « valable jusqu'au » is void: the
			// password counts as wrong, and the audit says why.
			ok, expired = false, true
		}
		if ok {
			matches = append(matches, c)
			rehash = append(rehash, re)
		}
	}

	switch len(matches) {
	case 0:
		w, err := tickets.Fail(ctx)
		if err != nil {
			return SignInResult{}, err
		}
		id := ""
		if len(candidates) == 1 {
			id = candidates[0].ID
		}
		outcome := "failed"
		if expired {
			outcome = "provisional_expired"
		}
		a.record(ctx, "signin", id, ip, outcome)
		return SignInResult{Outcome: Invalid, RetryAfter: w}, nil
	case 1:
	default:
		if err := tickets.Refund(ctx); err != nil {
			return SignInResult{}, err
		}
		return SignInResult{Outcome: Choose, Choices: matches}, nil
	}

	acc := matches[0]
	if err := a.guard.Succeed(ctx, tickets, acc, ip); err != nil {
		return SignInResult{}, err
	}
	if acc.Status == StatusPending {
		a.record(ctx, "signin", acc.ID, ip, "pending")
		return SignInResult{Outcome: Pending, Account: acc}, nil
	}
	if rehash[0] && a.onRehash != nil {
		if h, err := a.hasher.Hash(password); err == nil {
			_ = a.onRehash(ctx, acc.ID, h)
		}
	}
	a.record(ctx, "signin", acc.ID, ip, "ok")
	return SignInResult{Outcome: SignedIn, Account: acc}, nil
}

// CheckPassword checks the password of a signed-in person (before a change
// of address or password, or a guardian's action), under the same throttle
// as sign-in. ok is false with a positive wait when throttled.
func (a *Authenticator) CheckPassword(ctx context.Context, acc Account, password, ip string) (ok bool, wait time.Duration, err error) {
	tickets, w, err := a.guard.Attempt(ctx, acc.ID, []Account{acc}, ip)
	if err != nil || w > 0 {
		return false, w, err
	}
	ok, _, err = a.hasher.Verify(acc.PasswordHash, password)
	if err != nil && !errors.Is(err, ErrBadHash) {
		return false, 0, err
	}
	if !ok {
		w, err := tickets.Fail(ctx)
		return false, w, err
	}
	return true, 0, a.guard.Succeed(ctx, tickets, acc, ip)
}

func (a *Authenticator) record(ctx context.Context, action, id, ip, outcome string) {
	if a.audit != nil {
		_ = a.audit.Record(ctx, audit.Event{At: a.now(), Action: action, AccountID: id, IP: ip, Outcome: outcome})
	}
}

// PadTo waits until d after start (or until ctx ends), so that refusals
// all take the same time.
func PadTo(ctx context.Context, start time.Time, d time.Duration) {
	wait := d - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
