package account

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/policy"
)

// EmailChange is an address waiting for its confirmation link.
type EmailChange struct {
	// ID is the SHA-256 of the link's token.
	ID        string
	AccountID string
	Email     string
	Lang      string
	ExpiresAt time.Time
}

// ErrEmailChangeNotFound means the link is unknown, used or expired.
var ErrEmailChangeNotFound = errors.New("account: e-mail change not found")

// ProfileStore is what profile changes need from persistence.
type ProfileStore interface {
	Store
	SetPassword(ctx context.Context, id, hash string, now time.Time) error
	CreateEmailChange(ctx context.Context, c EmailChange) error
	// TakeEmailChange returns and deletes a live change: a link works once.
	TakeEmailChange(ctx context.Context, id string) (EmailChange, error)
}

// SessionRevoker ends an account's other sessions after a password change.
type SessionRevoker interface {
	RevokeOthers(ctx context.Context, accountID, keepID string) error
}

// ProfileNotifier writes the profile's mails.
type ProfileNotifier interface {
	// ConfirmEmail asks the new address to confirm, with a link.
	ConfirmEmail(ctx context.Context, lang, to string, acc Account, link string, validFor time.Duration) error
	// EmailChanged tells the old address that the account moved.
	EmailChanged(ctx context.Context, lang, oldAddress string, acc Account, newAddress string) error
	// PasswordNotice says the password was changed.
	PasswordNotice(ctx context.Context, lang string, acc Account, at time.Time) error
}

// Profile changes what a signed-in person may change about themselves.
type Profile struct {
	store    ProfileStore
	hasher   *Hasher
	sessions SessionRevoker
	notify   ProfileNotifier
	policy   func(population string) policy.Policy
	audit    audit.Recorder
	baseURL  *url.URL
	now      func() time.Time
}

// NewProfile returns a Profile.
func NewProfile(store ProfileStore, hasher *Hasher, sessions SessionRevoker, notify ProfileNotifier,
	pol func(string) policy.Policy, rec audit.Recorder, baseURL *url.URL, now func() time.Time) *Profile {
	return &Profile{store: store, hasher: hasher, sessions: sessions, notify: notify, policy: pol, audit: rec, baseURL: baseURL, now: now}
}

// EmailLinkTTL is how long a confirmation link for a new address works.
const EmailLinkTTL = 24 * time.Hour

// Changes is what the coordinates form submits.
type Changes struct {
	Email      string
	Phone      string
	Newsletter bool
}

// UpdateResult says what changed at once and what waits.
type UpdateResult struct {
	Changed      []string // "phone", "newsletter"
	PendingEmail string   // the address that must confirm
}

// Problems maps a field to a message key; empty means valid.
type Problems map[string]string

// Validate checks the coordinates form and normalises it.
func (c *Changes) Validate() Problems {
	p := Problems{}
	c.Email, c.Phone = strings.TrimSpace(c.Email), strings.TrimSpace(c.Phone)
	switch {
	case utf8.RuneCountInString(c.Email) > 254:
		p["email"] = "profile.err_too_long"
	case c.Email != "" && !ValidEmail(c.Email):
		p["email"] = "profile.err_email"
	}
	if c.Phone != "" {
		if utf8.RuneCountInString(c.Phone) > 32 {
			p["phone"] = "profile.err_too_long"
		} else if e164, ok := NormalisePhone(c.Phone); ok {
			c.Phone = e164
		} else {
			p["phone"] = "profile.err_phone"
		}
	}
	return p
}

// Update applies the coordinates of a signed-in account. A new address
// only takes effect once its confirmation link is used.
func (pr *Profile) Update(ctx context.Context, acc Account, c Changes, lang, ip string) (UpdateResult, Problems, error) {
	if probs := c.Validate(); len(probs) > 0 {
		return UpdateResult{}, probs, nil
	}
	var res UpdateResult
	now := pr.now()
	next := acc
	if c.Phone != acc.Phone {
		next.Phone = c.Phone
		res.Changed = append(res.Changed, "phone")
	}
	if c.Newsletter != acc.Newsletter {
		next.Newsletter, next.NewsletterAt = c.Newsletter, now
		res.Changed = append(res.Changed, "newsletter")
	}
	if c.Email != "" && NormaliseEmail(c.Email) != NormaliseEmail(acc.Email) && NormaliseEmail(c.Email) != NormaliseEmail(acc.PendingEmail) {
		token := keys.RandomHex(32)
		id := keys.HashToken(token)
		ch := EmailChange{ID: id, AccountID: acc.ID, Email: c.Email, Lang: lang, ExpiresAt: now.Add(EmailLinkTTL)}
		if err := pr.store.CreateEmailChange(ctx, ch); err != nil {
			return res, nil, err
		}
		next.PendingEmail = c.Email
		u := *pr.baseURL
		u.Path += "/account/email/confirm"
		u.RawQuery = url.Values{"token": {token}}.Encode()
		if err := pr.notify.ConfirmEmail(ctx, lang, c.Email, next, u.String(), EmailLinkTTL); err != nil {
			return res, nil, err
		}
		res.PendingEmail = c.Email
	} else if c.Email != "" && NormaliseEmail(c.Email) == NormaliseEmail(acc.PendingEmail) {
		res.PendingEmail = acc.PendingEmail
	}
	if len(res.Changed) > 0 || next.PendingEmail != acc.PendingEmail {
		next.UpdatedAt = now
		if err := pr.store.SaveAccount(ctx, next, acc.Email); err != nil {
			return res, nil, err
		}
		pr.record(ctx, "profile.update", acc.ID, ip)
	}
	return res, nil, nil
}

// ConfirmEmail applies the address of a confirmation link (on the
// person's submit, never on the GET that mail scanners prefetch), and tells
// the old address.
func (pr *Profile) ConfirmEmail(ctx context.Context, token, ip string) (Account, error) {
	if token == "" || len(token) > 128 {
		return Account{}, ErrEmailChangeNotFound
	}
	ch, err := pr.store.TakeEmailChange(ctx, keys.HashToken(token))
	if err != nil {
		return Account{}, err
	}
	if !pr.now().Before(ch.ExpiresAt) {
		return Account{}, ErrEmailChangeNotFound
	}
	acc, err := pr.store.GetAccount(ctx, ch.AccountID)
	if err != nil {
		return Account{}, err
	}
	old := acc.Email
	acc.Email, acc.UpdatedAt = ch.Email, pr.now()
	if NormaliseEmail(acc.PendingEmail) == NormaliseEmail(ch.Email) {
		acc.PendingEmail = ""
	}
	if err := pr.store.SaveAccount(ctx, acc, old); err != nil {
		return Account{}, err
	}
	if old != "" {
		if err := pr.notify.EmailChanged(ctx, ch.Lang, old, acc, ch.Email); err != nil {
			return acc, err
		}
	}
	pr.record(ctx, "profile.email_confirmed", acc.ID, ip)
	return acc, nil
}

// ChangePassword checks the current password, the policy and the
// confirmation, then stores the new hash, ends the account's other
// sessions (keeping this one) and mails a notice.
func (pr *Profile) ChangePassword(ctx context.Context, acc Account, current, next, confirm, keepSession, lang, ip string) (Problems, []policy.Rule, error) {
	ok, _, err := pr.hasher.Verify(acc.PasswordHash, current)
	if err != nil && !errors.Is(err, ErrBadHash) {
		return nil, nil, err
	}
	if !ok {
		pr.record(ctx, "profile.password", acc.ID, ip+" wrong-current")
		return Problems{"current": "profile.err_current"}, nil, nil
	}
	res := pr.policy(acc.Population).Evaluate(next, policy.Context{Identifier: acc.Identifier, FirstName: acc.FirstName, LastName: acc.LastName})
	if !res.OK {
		return Problems{"password": "profile.err_rules"}, res.Rules, nil
	}
	if policy.Normalize(next) != policy.Normalize(confirm) {
		return Problems{"confirm": "profile.err_mismatch"}, res.Rules, nil
	}
	if policy.Normalize(next) == policy.Normalize(current) {
		return Problems{"password": "profile.err_same"}, res.Rules, nil
	}
	hash, err := pr.hasher.Hash(policy.Normalize(next))
	if err != nil {
		return nil, nil, err
	}
	now := pr.now()
	if err := pr.store.SetPassword(ctx, acc.ID, hash, now); err != nil {
		return nil, nil, err
	}
	if err := pr.sessions.RevokeOthers(ctx, acc.ID, keepSession); err != nil {
		return nil, nil, err
	}
	if acc.Email != "" {
		if err := pr.notify.PasswordNotice(ctx, lang, acc, now); err != nil {
			return nil, nil, err
		}
	}
	pr.record(ctx, "profile.password", acc.ID, ip)
	return nil, nil, nil
}

func (pr *Profile) record(ctx context.Context, action, id, ip string) {
	if pr.audit != nil {
		_ = pr.audit.Record(ctx, audit.Event{At: pr.now(), Action: action, AccountID: id, IP: ip, Outcome: "ok"})
	}
}

// NormalisePhone accepts French numbers as people write them (06 12 34 56
// 78, 06.12.34.56.78, +33 6 12 34 56 78, 0033 6…) and international ones
// with their + prefix, and returns the E.164 form.
func NormalisePhone(s string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' || r == '\u00a0':
		default:
			return "", false
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(d, "+33"):
		d = "0" + d[3:]
	case strings.HasPrefix(d, "0033"):
		d = "0" + d[4:]
	case strings.HasPrefix(d, "00"):
		d = "+" + d[2:]
	}
	if strings.HasPrefix(d, "0") {
		// A French national number: 0 then nine digits, not starting 00.
		if len(d) != 10 || d[1] == '0' {
			return "", false
		}
		return "+33" + d[1:], true
	}
	if strings.HasPrefix(d, "+") && len(d) >= 9 && len(d) <= 16 && d[1] != '0' {
		return d, true
	}
	return "", false
}
