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
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/policy"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/refusal"
)

// EmailChange is an address waiting for its confirmation link, or, when
// Cancels is set, the link the old address gets to cancel that change.
type EmailChange struct {
	// ID is the SHA-256 of the link's token.
	ID        string
	AccountID string
	Email     string
	Lang      string
	// Cancels is the ID of the change a cancellation link voids.
	Cancels   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ErrEmailChangeNotFound means the link is unknown, used, expired or void.
var ErrEmailChangeNotFound = errors.New("account: e-mail change not found")

// ProfileStore is what profile changes need from persistence.
type ProfileStore interface {
	Looker
	Patcher
	SetPassword(ctx context.Context, id, hash string, now time.Time) error
	CreateEmailChange(ctx context.Context, c EmailChange) error
	// TakeEmailChange returns and deletes a live change: a link works once.
	TakeEmailChange(ctx context.Context, id string) (EmailChange, error)
}

// SessionRevoker ends an account's sessions after a password change: the
// others of the person who changed it, or all of them when a guardian set a
// child's.
type SessionRevoker interface {
	RevokeOthers(ctx context.Context, accountID, keepID string) error
	RevokeAll(ctx context.Context, accountID string) error
}

// PasswordChecker checks a signed-in person's current password under the
// same throttle as sign-in (Authenticator implements it).
type PasswordChecker interface {
	CheckPassword(ctx context.Context, acc Account, password, ip string) (ok bool, wait time.Duration, err error)
}

// ProfileNotifier writes the profile's mails.
type ProfileNotifier interface {
	// ConfirmEmail asks the new address to confirm, with a link.
	ConfirmEmail(ctx context.Context, lang, to string, acc Account, link string, validFor time.Duration) error
	// EmailChangeRequested tells the current address that a change was
	// asked, with a link that cancels it.
	EmailChangeRequested(ctx context.Context, lang, to string, acc Account, newAddress, cancelLink string, validFor time.Duration) error
	// EmailChanged tells the old address that the account moved.
	EmailChanged(ctx context.Context, lang, oldAddress string, acc Account, newAddress string) error
	// PasswordNotice says the password was changed.
	PasswordNotice(ctx context.Context, lang string, acc Account, at time.Time) error
}

// Profile changes what a signed-in person may change about themselves.
type Profile struct {
	store    ProfileStore
	hasher   *Hasher
	check    PasswordChecker
	sessions SessionRevoker
	notify   ProfileNotifier
	policy   func(population string) policy.Policy
	audit    audit.Recorder
	baseURL  *url.URL
	now      func() time.Time
	budget   *ratelimit.Limiter
}

// WithMailBudget counts the confirmation links sent for an account, with
// those of activation: at most ConfirmMailsPerHour an hour.
func (pr *Profile) WithMailBudget(l *ratelimit.Limiter) *Profile {
	pr.budget = l
	return pr
}

// ConfirmMailsPerHour is how many confirmation links one account may be
// sent in an hour (activation.ConfirmMailsPerHour counts the same key).
const ConfirmMailsPerHour = 5

// NewProfile returns a Profile.
func NewProfile(store ProfileStore, hasher *Hasher, check PasswordChecker, sessions SessionRevoker, notify ProfileNotifier,
	pol func(string) policy.Policy, rec audit.Recorder, baseURL *url.URL, now func() time.Time) *Profile {
	return &Profile{store: store, hasher: hasher, check: check, sessions: sessions, notify: notify, policy: pol, audit: rec, baseURL: baseURL, now: now}
}

// EmailLinkTTL is how long a confirmation link for a new address works.
const EmailLinkTTL = 24 * time.Hour

// Changes is what the coordinates form submits.
type Changes struct {
	Email      string
	Phone      string
	Newsletter bool
	// Current is the current password, asked to change the address: a
	// session alone (a shared computer left signed in) must not be able to
	// move the account's recovery address.
	Current string
}

// UpdateResult says what changed at once and what waits.
type UpdateResult struct {
	Changed      []string // "phone", "newsletter"
	PendingEmail string   // the address that must confirm
}

// Validate checks the coordinates form and normalises it.
func (c *Changes) Validate() refusal.List {
	var l refusal.List
	c.Email, c.Phone = strings.TrimSpace(c.Email), strings.TrimSpace(c.Phone)
	switch {
	case utf8.RuneCountInString(c.Email) > 254:
		l = l.Add("email", refusal.TooLong)
	case c.Email != "" && !ValidEmail(c.Email):
		l = l.Add("email", refusal.Invalid)
	}
	if c.Phone != "" {
		if utf8.RuneCountInString(c.Phone) > 32 {
			l = l.Add("phone", refusal.TooLong)
		} else if e164, ok := NormalisePhone(c.Phone); ok {
			c.Phone = e164
		} else {
			l = l.Add("phone", refusal.Invalid)
		}
	}
	return l
}

// Update applies the coordinates of a signed-in account. A new address
// needs the current password and only takes effect once its confirmation
// link is used; the current address is told, with a link to cancel.
func (pr *Profile) Update(ctx context.Context, acc Account, c Changes, lang, ip string) (UpdateResult, refusal.List, error) {
	if l := c.Validate(); len(l) > 0 {
		return UpdateResult{}, l, nil
	}
	var res UpdateResult
	now := pr.now()
	var p Patch
	newEmail := c.Email != "" && NormaliseEmail(c.Email) != NormaliseEmail(acc.Email) && NormaliseEmail(c.Email) != NormaliseEmail(acc.PendingEmail)
	if newEmail {
		// Checked before anything is written: a refused password changes
		// nothing, not even the phone number typed alongside.
		ok, wait, err := pr.check.CheckPassword(ctx, acc, c.Current, ip)
		if err != nil {
			return res, nil, err
		}
		if wait > 0 {
			return res, refusal.List{{Field: "current", Reason: refusal.Throttled, Wait: wait}}, nil
		}
		if !ok {
			pr.record(ctx, "profile.update", acc.ID, ip, "wrong_current")
			reason := refusal.Wrong
			if c.Current == "" {
				reason = refusal.Missing
			}
			return res, refusal.List{}.Add("current", reason), nil
		}
	}
	if c.Phone != acc.Phone {
		p.Phone = Set(c.Phone)
		res.Changed = append(res.Changed, "phone")
	}
	if c.Newsletter != acc.Newsletter {
		p.Newsletter, p.NewsletterAt = Set(c.Newsletter), Set(now)
		res.Changed = append(res.Changed, "newsletter")
	}
	var links emailLinks
	if newEmail {
		if wait, err := pr.spendConfirmBudget(ctx, acc); err != nil {
			return res, nil, err
		} else if wait > 0 {
			pr.record(ctx, "profile.update", acc.ID, ip, "mail_budget_spent")
			return res, refusal.List{{Field: "email", Reason: refusal.Budget, Wait: wait}}, nil
		}
		var err error
		if links, err = pr.newEmailLinks(ctx, acc, c.Email, lang, &p); err != nil {
			return res, nil, err
		}
		res.PendingEmail = c.Email
	} else if c.Email != "" && NormaliseEmail(c.Email) == NormaliseEmail(acc.PendingEmail) {
		res.PendingEmail = acc.PendingEmail
	}
	if p == (Patch{}) {
		return res, nil, nil
	}
	if err := pr.store.PatchAccount(ctx, acc.ID, p, now); err != nil {
		return res, nil, err
	}
	pr.record(ctx, "profile.update", acc.ID, ip, "ok")
	return res, nil, pr.mailEmailLinks(ctx, acc, c.Email, lang, links)
}

// ProposeEmail is the office's correction of an address: the new address
// gets a confirmation link, the current one (if any) a link that cancels,
// and nothing changes until the person uses the first. actor is the agent,
// for the audit. The same hourly budget of links applies as on the
// personal page.
func (pr *Profile) ProposeEmail(ctx context.Context, acc Account, email, lang, ip, actor string) (refusal.List, error) {
	if wait, err := pr.spendConfirmBudget(ctx, acc); err != nil {
		return nil, err
	} else if wait > 0 {
		pr.recordFor(ctx, "profile.email_proposed", acc.ID, actor, ip, "mail_budget_spent")
		return refusal.List{{Field: "email", Reason: refusal.Budget, Wait: wait}}, nil
	}
	var p Patch
	links, err := pr.newEmailLinks(ctx, acc, email, lang, &p)
	if err != nil {
		return nil, err
	}
	if err := pr.store.PatchAccount(ctx, acc.ID, p, pr.now()); err != nil {
		return nil, err
	}
	pr.recordFor(ctx, "profile.email_proposed", acc.ID, actor, ip, "ok")
	return nil, pr.mailEmailLinks(ctx, acc, email, lang, links)
}

// spendConfirmBudget counts one confirmation link for the account, and
// returns how long to wait when the hour's are spent.
func (pr *Profile) spendConfirmBudget(ctx context.Context, acc Account) (time.Duration, error) {
	if pr.budget == nil {
		return 0, nil
	}
	d, err := pr.budget.Allow(ctx, "confirm-mail:"+acc.ID, ConfirmMailsPerHour, time.Hour)
	if err != nil || d.Allowed {
		return 0, err
	}
	return d.RetryAfter, nil
}

// emailLinks are the links of one change of address.
type emailLinks struct{ confirm, cancel string }

// newEmailLinks stores a change of address (and, when there is a current
// address, its cancellation) and sets p to wait for it.
func (pr *Profile) newEmailLinks(ctx context.Context, acc Account, email, lang string, p *Patch) (emailLinks, error) {
	now := pr.now()
	var links emailLinks
	token, cancel := keys.RandomHex(32), keys.RandomHex(32)
	ch := EmailChange{ID: keys.HashToken(token), AccountID: acc.ID, Email: email, Lang: lang, CreatedAt: now, ExpiresAt: now.Add(EmailLinkTTL)}
	if err := pr.store.CreateEmailChange(ctx, ch); err != nil {
		return links, err
	}
	if acc.Email != "" {
		cn := EmailChange{ID: keys.HashToken(cancel), AccountID: acc.ID, Email: email, Lang: lang, Cancels: ch.ID, CreatedAt: now, ExpiresAt: now.Add(EmailLinkTTL)}
		if err := pr.store.CreateEmailChange(ctx, cn); err != nil {
			return links, err
		}
		links.cancel = pr.link(paths.AccountEmailCancel, cancel)
	}
	// Only the newest request's link can confirm: an older one, still in
	// some mailbox, is void from now on.
	p.PendingEmail, p.PendingEmailID = Set(email), Set(ch.ID)
	links.confirm = pr.link(paths.AccountEmailConfirm, token)
	return links, nil
}

// mailEmailLinks mails the links of a change of address.
func (pr *Profile) mailEmailLinks(ctx context.Context, acc Account, email, lang string, links emailLinks) error {
	if links.confirm != "" {
		next := acc
		next.PendingEmail = email
		if err := pr.notify.ConfirmEmail(ctx, lang, email, next, links.confirm, EmailLinkTTL); err != nil {
			return err
		}
	}
	if links.cancel != "" {
		if err := pr.notify.EmailChangeRequested(ctx, lang, acc.Email, acc, email, links.cancel, EmailLinkTTL); err != nil {
			return err
		}
	}
	return nil
}

func (pr *Profile) link(path, token string) string {
	u := *pr.baseURL
	u.Path += path
	u.RawQuery = url.Values{"token": {token}}.Encode()
	return u.String()
}

// ConfirmEmail applies the address of a confirmation link (on the
// person's submit, never on the GET that mail scanners prefetch), and tells
// the old address. The link must be the account's newest request, made
// since the password last changed.
func (pr *Profile) ConfirmEmail(ctx context.Context, token, ip string) (Account, error) {
	if token == "" || len(token) > 128 {
		return Account{}, ErrEmailChangeNotFound
	}
	ch, err := pr.store.TakeEmailChange(ctx, keys.HashToken(token))
	if err != nil {
		return Account{}, err
	}
	if !pr.now().Before(ch.ExpiresAt) || ch.Cancels != "" {
		return Account{}, ErrEmailChangeNotFound
	}
	acc, err := pr.store.GetAccount(ctx, ch.AccountID)
	if err != nil {
		return Account{}, err
	}
	if acc.PendingEmailID != ch.ID || ch.CreatedAt.Before(acc.PasswordChangedAt) {
		pr.record(ctx, "profile.email_confirmed", acc.ID, ip, "void")
		return Account{}, ErrEmailChangeNotFound
	}
	old := acc.Email
	now := pr.now()
	if err := pr.store.PatchAccount(ctx, acc.ID, Patch{Email: Set(ch.Email), EmailSetBy: Set(SetByUser), PendingEmail: Set(""), PendingEmailID: Set("")}, now); err != nil {
		return Account{}, err
	}
	acc.Email, acc.PendingEmail, acc.PendingEmailID, acc.UpdatedAt = ch.Email, "", "", now
	if old != "" {
		if err := pr.notify.EmailChanged(ctx, ch.Lang, old, acc, ch.Email); err != nil {
			return acc, err
		}
	}
	pr.record(ctx, "profile.email_confirmed", acc.ID, ip, "ok")
	return acc, nil
}

// CancelEmail voids a pending change of address with the link mailed to
// the current address.
func (pr *Profile) CancelEmail(ctx context.Context, token, ip string) (Account, error) {
	if token == "" || len(token) > 128 {
		return Account{}, ErrEmailChangeNotFound
	}
	ch, err := pr.store.TakeEmailChange(ctx, keys.HashToken(token))
	if err != nil {
		return Account{}, err
	}
	if !pr.now().Before(ch.ExpiresAt) || ch.Cancels == "" {
		return Account{}, ErrEmailChangeNotFound
	}
	acc, err := pr.store.GetAccount(ctx, ch.AccountID)
	if err != nil {
		return Account{}, err
	}
	// The confirmation link goes too, whatever the account now waits for.
	if _, err := pr.store.TakeEmailChange(ctx, ch.Cancels); err != nil && !errors.Is(err, ErrEmailChangeNotFound) {
		return Account{}, err
	}
	if acc.PendingEmailID == ch.Cancels {
		if err := pr.store.PatchAccount(ctx, acc.ID, Patch{PendingEmail: Set(""), PendingEmailID: Set("")}, pr.now()); err != nil {
			return Account{}, err
		}
		acc.PendingEmail, acc.PendingEmailID = "", ""
	}
	pr.record(ctx, "profile.email_cancelled", acc.ID, ip, "ok")
	return acc, nil
}

// NewPasswordRefusals lists every problem of a new password at once (the
// rules, the confirmation, the same as before), so that the person fixes
// them all in one go. Recovery, activation and the personal page share it.
// current is "" when there is no current password to compare with.
func NewPasswordRefusals(res policy.Result, next, confirm, current string) refusal.List {
	var l refusal.List
	if !res.OK {
		l = l.Add("password", refusal.Rules)
	} else if current != "" && policy.Normalize(next) == policy.Normalize(current) {
		l = l.Add("password", refusal.Same)
	}
	if policy.Normalize(next) != policy.Normalize(confirm) {
		l = l.Add("confirm", refusal.Mismatch)
	}
	return l
}

// Children returns the accounts whose guardian acc is (« Mes enfants »).
func (pr *Profile) Children(ctx context.Context, acc Account) ([]Account, error) {
	return pr.store.ChildrenOf(ctx, acc.ID)
}

// Child returns one of guardian's children; ErrNotFound for any other
// account, so that a guardian learns nothing of accounts not theirs.
func (pr *Profile) Child(ctx context.Context, guardian Account, childID string) (Account, error) {
	if !validIdentifier(childID) {
		return Account{}, ErrNotFound
	}
	child, err := pr.store.GetAccount(ctx, childID)
	if err != nil {
		return Account{}, err
	}
	if !guardian.IsGuardianOf(child) {
		return Account{}, ErrNotFound
	}
	return child, nil
}

// SetChildPassword lets a guardian set a new password for one of their
// children: the guardian's own password first (under the sign-in
// throttle), then the child's population's rules with the child's names.
// Every session of the child ends; the child is told at their own address
// if they have one; the audit says who reset whom.
func (pr *Profile) SetChildPassword(ctx context.Context, guardian Account, childID, current, next, confirm, lang, ip string) (PasswordResult, error) {
	child, err := pr.Child(ctx, guardian, childID)
	if err != nil {
		return PasswordResult{}, err
	}
	ok, wait, err := pr.check.CheckPassword(ctx, guardian, current, ip)
	if err != nil {
		return PasswordResult{}, err
	}
	if wait > 0 {
		return PasswordResult{Refusals: refusal.List{{Field: "current", Reason: refusal.Throttled, Wait: wait}}, Account: child}, nil
	}
	if !ok {
		pr.recordFor(ctx, "guardian.child_password", child.ID, guardian.ID, ip, "wrong_current")
		reason := refusal.Wrong
		if current == "" {
			reason = refusal.Missing
		}
		return PasswordResult{Refusals: refusal.List{}.Add("current", reason), Account: child}, nil
	}
	res := pr.policy(child.Population).Evaluate(next, policy.Context{Identifier: child.Identifier, FirstName: child.FirstName, LastName: child.LastName})
	if l := NewPasswordRefusals(res, next, confirm, ""); len(l) > 0 {
		return PasswordResult{Refusals: l, Rules: res.Rules, Account: child}, nil
	}
	hash, err := pr.hasher.Hash(next)
	if err != nil {
		return PasswordResult{}, err
	}
	now := pr.now()
	if err := pr.store.SetPassword(ctx, child.ID, hash, now); err != nil {
		return PasswordResult{}, err
	}
	if err := pr.sessions.RevokeAll(ctx, child.ID); err != nil {
		return PasswordResult{}, err
	}
	if child.Email != "" {
		if err := pr.notify.PasswordNotice(ctx, lang, child, now); err != nil {
			return PasswordResult{}, err
		}
	}
	pr.recordFor(ctx, "guardian.child_password", child.ID, guardian.ID, ip, "ok")
	return PasswordResult{Account: child}, nil
}

// AcceptCharter records that the person accepted the charter's version
// now in force.
func (pr *Profile) AcceptCharter(ctx context.Context, acc Account, version, ip string) error {
	now := pr.now()
	if err := pr.store.PatchAccount(ctx, acc.ID, Patch{CharterVersion: Set(version), CharterAt: Set(now)}, now); err != nil {
		return err
	}
	pr.record(ctx, "profile.charter", acc.ID, ip, "ok")
	return nil
}

// PasswordResult is the outcome of a password change: the refusals to show
// (nothing was changed) and the policy's rules as evaluated.
type PasswordResult struct {
	Refusals refusal.List
	Rules    []policy.Rule
	// Account is the account whose password was (to be) set, when it is
	// not the caller's own: a guardian's child.
	Account Account
}

// ChangePassword checks the current password, the policy and the
// confirmation, then stores the new hash, ends the account's other
// sessions (keeping this one) and mails a notice. The new password voids
// any pending change of address.
func (pr *Profile) ChangePassword(ctx context.Context, acc Account, current, next, confirm, keepSession, lang, ip string) (PasswordResult, error) {
	ok, wait, err := pr.check.CheckPassword(ctx, acc, current, ip)
	if err != nil {
		return PasswordResult{}, err
	}
	if wait > 0 {
		return PasswordResult{Refusals: refusal.List{{Field: "current", Reason: refusal.Throttled, Wait: wait}}}, nil
	}
	if !ok {
		pr.record(ctx, "profile.password", acc.ID, ip, "wrong_current")
		return PasswordResult{Refusals: refusal.List{}.Add("current", refusal.Wrong)}, nil
	}
	res := pr.policy(acc.Population).Evaluate(next, policy.Context{Identifier: acc.Identifier, FirstName: acc.FirstName, LastName: acc.LastName})
	if l := NewPasswordRefusals(res, next, confirm, current); len(l) > 0 {
		return PasswordResult{Refusals: l, Rules: res.Rules}, nil
	}
	hash, err := pr.hasher.Hash(next)
	if err != nil {
		return PasswordResult{}, err
	}
	now := pr.now()
	if err := pr.store.SetPassword(ctx, acc.ID, hash, now); err != nil {
		return PasswordResult{}, err
	}
	if err := pr.sessions.RevokeOthers(ctx, acc.ID, keepSession); err != nil {
		return PasswordResult{}, err
	}
	if acc.Email != "" {
		if err := pr.notify.PasswordNotice(ctx, lang, acc, now); err != nil {
			return PasswordResult{}, err
		}
	}
	pr.record(ctx, "profile.password", acc.ID, ip, "ok")
	return PasswordResult{}, nil
}

// recordFor audits an action of actor on another account.
func (pr *Profile) recordFor(ctx context.Context, action, id, actor, ip, outcome string) {
	if pr.audit != nil {
		_ = pr.audit.Record(ctx, audit.Event{At: pr.now(), Action: action, AccountID: id, Actor: actor, IP: ip, Outcome: outcome})
	}
}

func (pr *Profile) record(ctx context.Context, action, id, ip, outcome string) {
	if pr.audit != nil {
		_ = pr.audit.Record(ctx, audit.Event{At: pr.now(), Action: action, AccountID: id, IP: ip, Outcome: outcome})
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
