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

// Authenticator checks identifiers (or e-mail addresses) and passwords.
type Authenticator struct {
	accounts Looker
	hasher   *Hasher
	perKey   *ratelimit.Throttle
	perIP    *ratelimit.Throttle
	audit    audit.Recorder
	key      []byte
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

// NewAuthenticator returns an Authenticator. perKey throttles what was
// typed as identifier (known or not, so throttling tells nothing), perIP the
// client's address. onRehash, if set, stores a hash upgraded to the current
// parameters after a successful sign-in.
func NewAuthenticator(accounts Looker, hasher *Hasher, perKey, perIP *ratelimit.Throttle, rec audit.Recorder, key []byte, now func() time.Time, onRehash func(ctx context.Context, id, hash string) error) *Authenticator {
	return &Authenticator{accounts: accounts, hasher: hasher, perKey: perKey, perIP: perIP, audit: rec, key: key, now: now, onRehash: onRehash}
}

// ThrottleKey is the throttle key of what a person typed.
func (a *Authenticator) ThrottleKey(input string) string {
	norm := NormaliseIdentifier(input)
	if IsEmail(input) {
		norm = NormaliseEmail(input)
	}
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte(norm))
	return "signin:" + hex.EncodeToString(m.Sum(nil))[:32]
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
	key := a.ThrottleKey(input)
	guards := []ratelimit.Keyed{{T: a.perKey, Key: key}, {T: a.perIP, Key: "signin-ip:" + ip}}
	if w, err := ratelimit.CheckAll(ctx, guards...); err != nil {
		return SignInResult{}, err
	} else if w > 0 {
		a.record(ctx, "signin", "", ip, "throttled")
		return SignInResult{Outcome: Throttled, RetryAfter: w}, nil
	}

	var candidates []Account
	if IsEmail(input) {
		all, err := a.accounts.AccountsByEmail(ctx, input)
		if err != nil {
			return SignInResult{}, fmt.Errorf("account: sign-in: %w", err)
		}
		candidates = all
	} else {
		acc, err := a.accounts.GetAccount(ctx, NormaliseIdentifier(input))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return SignInResult{}, fmt.Errorf("account: sign-in: %w", err)
		}
		if err == nil {
			candidates = []Account{acc}
		}
	}

	var matches []Account
	var rehash []bool
	if len(candidates) == 0 {
		a.hasher.Burn(password)
	}
	for _, c := range candidates {
		ok, re, err := a.hasher.Verify(c.PasswordHash, password)
		if err != nil && !errors.Is(err, ErrBadHash) {
			return SignInResult{}, err
		}
		if ok {
			matches = append(matches, c)
			rehash = append(rehash, re)
		}
	}

	switch len(matches) {
	case 0:
		w, err := ratelimit.FailAll(ctx, guards...)
		if err != nil {
			return SignInResult{}, err
		}
		id := ""
		if len(candidates) == 1 {
			id = candidates[0].ID
		}
		a.record(ctx, "signin", id, ip, "failed")
		return SignInResult{Outcome: Invalid, RetryAfter: w}, nil
	case 1:
	default:
		return SignInResult{Outcome: Choose, Choices: matches}, nil
	}

	acc := matches[0]
	if err := a.perKey.Succeed(ctx, key); err != nil {
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
