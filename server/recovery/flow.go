// Package recovery is the forgotten-password and forgotten-identifier flow.
//
// A flow is a state machine kept in the database and bound to one browser:
//
//	code_sent ──(right code)──▶ verified ──(new password)──▶ done (kept empty until expiry)
//	    │ └──(5 wrong codes, or expiry)──▶ (deleted; start again)
//	    └── identifier reminders stop here: the mail is the end.
//
// Step 1 answers the same way, with the same work on the request path,
// whether or not an account matches: the lookup, the code and the mail
// happen afterwards in a dispatcher, so neither words, status nor timing tell
// an attacker which identifiers exist.
//
// The package imports neither the web framework, the driver nor templ; it
// declares the interfaces it needs (Store, Notifier, Sessions) and the
// store, mail and web packages provide them.
package recovery

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sesame-edu/sesame/server/account"
)

// Kind is what the person forgot.
type Kind string

const (
	// KindPassword resets a password through a mailed code.
	KindPassword Kind = "password"
	// KindIdentifier mails the identifiers attached to an address.
	KindIdentifier Kind = "identifier"
)

// State is where a flow stands.
type State string

const (
	// StateCodeSent waits for the code (for every password flow, even when
	// no account matched and no code exists: the person cannot tell).
	StateCodeSent State = "code_sent"
	// StateVerified has passed the code and waits for the new password.
	StateVerified State = "verified"
	// StateDone has reset the password. It keeps no personal data, only
	// what tells the other device « déjà modifié », until it expires.
	StateDone State = "done"
	// StateReminded has mailed an identifier reminder (if anything matched).
	StateReminded State = "reminded"
)

// Step is a screen of the recovery dialog. Each step has one word, used
// everywhere: its route (paths.RecoveryCode), its handler (web's
// recoveryCode), its template (views' recoveryCode), its domain method
// (Service.SubmitCode) and its tests (TestRecoveryCode…).
type Step string

const (
	// StepChoose is « qui êtes-vous ? »: the population's rules and words.
	StepChoose Step = "choose"
	// StepRequest asks for the identifier or address.
	StepRequest Step = "request"
	// StepCode asks for the mailed code.
	StepCode Step = "code"
	// StepPassword asks for the new password.
	StepPassword Step = "password"
	// StepDone says the password is set, or the identifier mailed.
	StepDone Step = "done"
	// StepDeadEnd says the request is over (expired, too many tries, rate
	// limited) and offers to start again.
	StepDeadEnd Step = "dead-end"
)

// Step is the step a live flow shows: the one function from the flow's
// state to what the person sees.
func (f Flow) Step() Step {
	switch f.State {
	case StateCodeSent:
		return StepCode
	case StateVerified:
		return StepPassword
	default:
		return StepDone
	}
}

// Flow is one recovery request.
type Flow struct {
	ID string
	// BrowserHash is the SHA-256 of the secret token in the cookie of the
	// browser that asked; only that browser (or whoever holds the mailed
	// code) may act.
	BrowserHash string
	// VerifiedBy is the hash of the token of the browser that typed the
	// right code: the only one that may choose the new password. When the
	// code was typed on another device (the mail's link), the browser that
	// asked stays bound to the flow, to be told where it stands.
	VerifiedBy string
	// Holder is the hash of the token this flow was loaded with (Load);
	// empty when found by id alone (Get). It is never stored.
	Holder     string
	Kind       Kind
	Population string
	Lang       string
	State      State
	// Version increases with every write; a write based on an older read
	// fails, so two instances never both count one attempt or use one code.
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
	IP        string

	// Request is what the person typed at step 1. It is personal data and
	// is erased as soon as the dispatcher has looked it up.
	Request string
	// RequestKey is a keyed hash of the normalised request, for the
	// per-identifier rate limit of resends.
	RequestKey string
	// Pending means the dispatcher has work to do: look the request up
	// and, for password flows, issue a code.
	Pending bool

	// Accounts are the ids that matched (empty when none did).
	Accounts []string
	// CodeHash is the HMAC of the current code; empty when none was issued.
	CodeHash      string
	CodeSentAt    time.Time
	CodeExpiresAt time.Time
	// Attempts counts wrong entries of the current code.
	Attempts int
	// Chosen is the account being reset, once known.
	Chosen    string
	ConsentAt time.Time
	// Device is the kind of device the request came from, told to
	// guardians who receive a child's code.
	Device Device
}

// VerifiedHere tells whether the browser that loaded the flow is the one
// that typed the right code.
func (f Flow) VerifiedHere() bool {
	return f.State == StateVerified && f.Holder != "" && f.Holder == f.VerifiedBy
}

// Device is a coarse kind of device, read from the browser's User-Agent:
// enough for a parent to recognise their child's phone, nothing that
// identifies it.
type Device string

// The kinds of device.
const (
	DevicePhone    Device = "phone"
	DeviceTablet   Device = "tablet"
	DeviceComputer Device = "computer"
)

// DeviceOf reads a User-Agent coarsely.
func DeviceOf(userAgent string) Device {
	ua := strings.ToLower(userAgent)
	switch {
	case strings.Contains(ua, "ipad") || strings.Contains(ua, "tablet") || (strings.Contains(ua, "android") && !strings.Contains(ua, "mobile")):
		return DeviceTablet
	case strings.Contains(ua, "mobile") || strings.Contains(ua, "iphone") || strings.Contains(ua, "android"):
		return DevicePhone
	case ua == "":
		return ""
	}
	return DeviceComputer
}

// Errors the web package turns into messages.
var (
	// ErrNotFound means no live flow: never started, finished, expired,
	// or not this browser's.
	ErrNotFound = errors.New("recovery: no such flow")
	// ErrConflict means the flow changed since it was read.
	ErrConflict = errors.New("recovery: flow changed concurrently")
	// ErrFinished means another submit of the same request (a double
	// click, the other device) has just set the password: an expected
	// outcome of a race, worded for the person, never a failure.
	ErrFinished = errors.New("recovery: request already finished")
	// ErrElsewhere means the code was typed on another device, which alone
	// may choose the new password.
	ErrElsewhere = errors.New("recovery: verified on another device")
	// ErrState means the step does not match the flow's state.
	ErrState = errors.New("recovery: wrong step")
)

// RateLimitedError says how long to wait.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string { return "recovery: rate limited" }

// Store keeps flows. Every write is conditional on the version read.
type Store interface {
	CreateFlow(ctx context.Context, f Flow) error
	// GetFlow returns the flow, or ErrNotFound when it is missing or expired.
	GetFlow(ctx context.Context, id string) (Flow, error)
	// SaveFlow replaces the flow if its stored version is f.Version-1, or
	// returns ErrConflict.
	SaveFlow(ctx context.Context, f Flow) error
	// SaveCodeAttempt records a try at the code (the "code" step), under
	// the same version check as SaveFlow: it is written before the code is
	// compared, so that concurrent guesses each cost a try.
	SaveCodeAttempt(ctx context.Context, f Flow) error
	DeleteFlow(ctx context.Context, id string) error
	// PendingFlows lists flows still pending since before the given time,
	// for the dispatcher to pick up after a crash or a full queue.
	PendingFlows(ctx context.Context, before time.Time) ([]string, error)
	// SweepFlows deletes expired flows (for servers without TTL indexes).
	SweepFlows(ctx context.Context, now time.Time) (int, error)
}

// Accounts is what recovery needs from accounts.
type Accounts interface {
	account.Looker
	SetPassword(ctx context.Context, id, hash string, now time.Time) error
}

// Sessions ends an account's sessions.
type Sessions interface {
	RevokeAll(ctx context.Context, accountID string) error
}

// CodeNotice is the mail carrying a code.
type CodeNotice struct {
	Lang     string
	To       string
	Accounts []account.Account // the identifiers to remind, people forget them too
	Code     string
	Link     string
	ValidFor time.Duration
	FlowID   string
	// Key makes queueing idempotent: the same key is queued once.
	Key string
}

// GuardianCodeNotice is the mail carrying a child's code to a guardian,
// for a child who has no address of their own. It says which child asked,
// from which kind of device and when; it carries no link, so that the
// child finishes on their own device.
type GuardianCodeNotice struct {
	Lang     string
	To       string
	Guardian account.Account
	Child    account.Account
	Code     string
	ValidFor time.Duration
	Device   Device
	At       time.Time
	FlowID   string
	Key      string
}

// ReminderNotice is the mail listing the identifiers of an address.
type ReminderNotice struct {
	Lang     string
	To       string
	Accounts []account.Account
	// Children are the accounts of children with no address of their own
	// whose guardian has this address: their identifiers too.
	Children []account.Account
	// Links start a password reset for each identifier, in order.
	Links []string
	// Key makes queueing idempotent.
	Key string
}

// ActivateFirstNotice tells the address of an account not yet activated
// that a request named it: nothing can be reset before activation, and the
// mail says how to activate. The screen said the same as for anyone.
type ActivateFirstNotice struct {
	Lang     string
	To       string
	Accounts []account.Account
	// Links open the activation, one per account, with its identifier.
	Links []string
	// Key makes queueing idempotent.
	Key string
}

// ChangedNotice tells someone their password was changed.
type ChangedNotice struct {
	Lang    string
	To      string
	Account account.Account
	At      time.Time
}

// Notifier writes the mails (to the outbox: it never waits for SMTP).
type Notifier interface {
	RecoveryCode(ctx context.Context, n CodeNotice) error
	GuardianCode(ctx context.Context, n GuardianCodeNotice) error
	IdentifierReminder(ctx context.Context, n ReminderNotice) error
	ActivateFirst(ctx context.Context, n ActivateFirstNotice) error
	PasswordChanged(ctx context.Context, n ChangedNotice) error
}
