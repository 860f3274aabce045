// Package desk is the school office's console: who may use it, who an
// agent may act on, how a search is matched, what a person's page shows,
// and the actions (send a recovery code, correct the address, lift a
// throttle, end every session, print a new provisional password on a
// letter). Every action is audited with who acted, on whom, when and from
// where.
//
// Nothing here ever returns a code or a link token; a provisional password
// leaves this package only inside a Letter, which the caller turns into a
// PDF and forgets.
//
// The package imports neither the web framework, the driver nor templ; it
// declares the small interfaces it needs and the store implements them.
package desk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/refusal"
)

// Role is what an account may do in the console.
type Role string

const (
	// None: the console does not exist for this account (404 everywhere).
	None Role = ""
	// Helpdesk agents search, look and act on ordinary accounts.
	Helpdesk Role = "helpdesk"
	// Admin has the help desk's rights on every account, agents' and
	// admins' included, and imports accounts.
	Admin Role = "admin"
)

// IdleTimeout is how long a console session lasts without a request: an
// office computer left open must not stay a console for long.
const IdleTimeout = 15 * time.Minute

// Errors the web layer turns into answers.
var (
	// ErrNotFound: no such person, or not one the agent may see; the
	// web layer answers 404, as for every console URL to non-agents.
	ErrNotFound = errors.New("desk: not found")
	// ErrForbidden: a help desk agent acting on an admin's or another
	// agent's account.
	ErrForbidden = errors.New("desk: not allowed on this account")
)

// Accounts is what the console needs of the accounts.
type Accounts interface {
	account.Looker
	account.Patcher
	// SearchAccounts returns, ordered by identifier, at most limit
	// accounts for which match holds.
	SearchAccounts(ctx context.Context, match func(account.Account) bool, limit int) ([]account.Account, error)
	// PendingAccounts returns the pending accounts of a population.
	PendingAccounts(ctx context.Context, population string) ([]account.Account, error)
}

// History keeps the audit and reads one account's part of it.
type History interface {
	audit.Recorder
	// AuditOf returns the events about accountID since since, newest first.
	AuditOf(ctx context.Context, accountID string, since time.Time) ([]audit.Event, error)
}

// MailOutcome is what became of one mail to an account: "pending",
// "sending", "sent" or "failed".
type MailOutcome struct {
	Kind   string
	Status string
	At     time.Time
}

// Mails tells what became of an account's mails.
type Mails interface {
	MailsOf(ctx context.Context, accountID string, since time.Time) ([]MailOutcome, error)
}

// Throttles reads and lifts an account's password throttles
// (account.Guard implements it).
type Throttles interface {
	Blocks(ctx context.Context, accountID string) ([]account.Block, error)
	Lift(ctx context.Context, accountID string) (int, error)
}

// CodeSender sends a recovery code to an account's address on file, by
// the self-service path (recovery.Service implements it), so that the
// same limits and audit apply and nobody but the mailbox sees the code.
type CodeSender interface {
	SendCodeFor(ctx context.Context, acc account.Account, lang, ip string) error
}

// EmailProposer mails a confirmation link to a new address; nothing
// changes until it is used (account.Profile implements it).
type EmailProposer interface {
	ProposeEmail(ctx context.Context, acc account.Account, email, lang, ip, actor string) (refusal.List, error)
}

// Activations ends or reads an account's activation in progress
// (activation.Service implements it).
type Activations interface {
	Abandon(ctx context.Context, accountID string) error
	Progress(ctx context.Context, accountID string) (activation.Step, time.Time, error)
}

// Deps are the console's collaborators.
type Deps struct {
	Accounts    Accounts
	History     History
	Mails       Mails
	Throttles   Throttles
	Codes       CodeSender
	Emails      EmailProposer
	Sessions    account.SessionRevoker
	Activations Activations
	Check       account.PasswordChecker
	Hasher      interface{ Hash(string) (string, error) }
	// Importer writes accounts files; Known says whether a population
	// key is configured.
	Importer Importer
	Known    func(string) bool
	// Role says what an account (by normalised identifier) may do here.
	Role func(id string) Role
	// ValidDays is how long a printed provisional password works.
	ValidDays int
	// Location is the school's time zone: a letter is valid until the end
	// of a day there.
	Location *time.Location
	Now      func() time.Time
}

// Service is the console.
type Service struct{ Deps }

// New returns the console.
func New(d Deps) *Service { return &Service{Deps: d} }

// Agent returns the role of a signed-in account; None for any account that
// is not an active one listed in the school's file.
func (s *Service) Agent(acc account.Account) Role {
	if acc.Status != account.StatusActive {
		return None
	}
	return s.Role(acc.ID)
}

// MayActOn reports whether agent may act on target: admins on anyone, help
// desk agents on anyone but the console's own people (admins, other agents
// and themselves), so that an agent cannot take over a colleague's account
// or raise their own rights.
func (s *Service) MayActOn(agent, target account.Account) bool {
	switch s.Agent(agent) {
	case Admin:
		return true
	case Helpdesk:
		return target.ID != agent.ID && s.Role(target.ID) == None
	}
	return false
}

// Fold is the form in which names, identifiers and addresses are compared:
// lower case, accents removed, spaces and hyphens collapsed, so that
// « helene dupont » finds « Marie-Hélène Dupont ».
func Fold(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.ToLower(out)
	return strings.Join(strings.FieldsFunc(out, func(r rune) bool { return unicode.IsSpace(r) || r == '-' || r == '\'' || r == '’' }), " ")
}

// Matches reports whether an account answers a search: every word of the
// query is part of its identifier, first or last name, or address.
func Matches(a account.Account, query string) bool {
	words := strings.Fields(Fold(query))
	if len(words) == 0 {
		return false
	}
	hay := Fold(a.Identifier + " " + a.FirstName + " " + a.LastName + " " + a.Email)
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// SearchLimit is how many people a search lists at most.
const SearchLimit = 50

// maxQuery bounds what a search may be: names and addresses are shorter.
const maxQuery = 200

// Search finds people by identifier, name (case and accents ignored),
// address, or part of one. An exact identifier or address is looked up by
// key first; the rest is a scan of the accounts, made only when asked
// (never on each keystroke).
func (s *Service) Search(ctx context.Context, agent account.Account, query string) ([]account.Account, error) {
	if s.Agent(agent) == None {
		return nil, ErrNotFound
	}
	query = strings.TrimSpace(query)
	if query == "" || len([]rune(query)) > maxQuery {
		return nil, nil
	}
	var exact []account.Account
	if account.IsEmail(query) && account.ValidEmail(query) {
		all, err := s.Accounts.AccountsByEmail(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("desk: search: %w", err)
		}
		exact = all
	} else if account.Plausible(query) {
		a, err := s.Accounts.GetAccount(ctx, account.NormaliseIdentifier(query))
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			return nil, fmt.Errorf("desk: search: %w", err)
		}
		if err == nil {
			exact = append(exact, a)
		}
	}
	found, err := s.Accounts.SearchAccounts(ctx, func(a account.Account) bool { return Matches(a, query) }, SearchLimit)
	if err != nil {
		return nil, fmt.Errorf("desk: search: %w", err)
	}
	out := exact
	for _, a := range found {
		if !slices.ContainsFunc(out, func(b account.Account) bool { return b.ID == a.ID }) {
			out = append(out, a)
		}
	}
	return out, nil
}

// MaskEmail shows enough of an address for a person to recognise it on the
// phone (« j•••@exemple.fr »), not enough to read it out to a stranger.
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return ""
	}
	first := []rune(email[:at])[0]
	return string(first) + "•••" + email[at:]
}

// Request is one recovery request of the last 24 hours, with its outcome:
// "code_mailed", "mail_failed", "no_address", "pending", "budget_spent".
type Request struct {
	At      time.Time
	Outcome string
}

// Entry is one line of a person's history in the console.
type Entry struct {
	At      time.Time
	Action  string
	Outcome string
	// Actor is the agent's identifier, for console actions.
	Actor string
	IP    string
}

// Person is what a person's page shows.
type Person struct {
	Account account.Account
	// Email is the masked address on file ("" when none); PendingEmail the
	// masked address waiting for its confirmation.
	Email        string
	PendingEmail string
	Role         Role
	// MayAct is false when the agent may look but not act (a help desk
	// agent on a colleague's or an admin's account).
	MayAct     bool
	LastSignIn time.Time
	Blocks     []account.Block
	Requests   []Request
	// Activation is the step an activation in progress waits at, and
	// since when; "" when none.
	Activation      activation.Step
	ActivationSince time.Time
	History         []Entry
}

// Person returns a person's page.
func (s *Service) Person(ctx context.Context, agent account.Account, id string) (Person, error) {
	if s.Agent(agent) == None {
		return Person{}, ErrNotFound
	}
	acc, err := s.find(ctx, id)
	if err != nil {
		return Person{}, err
	}
	p := Person{Account: acc, Email: MaskEmail(acc.Email), PendingEmail: MaskEmail(acc.PendingEmail),
		Role: s.Role(acc.ID), MayAct: s.MayActOn(agent, acc)}
	now := s.Now()
	if p.Blocks, err = s.Throttles.Blocks(ctx, acc.ID); err != nil {
		return Person{}, err
	}
	events, err := s.History.AuditOf(ctx, acc.ID, now.Add(-historyDays*24*time.Hour))
	if err != nil {
		return Person{}, err
	}
	mails, err := s.Mails.MailsOf(ctx, acc.ID, now.Add(-24*time.Hour))
	if err != nil {
		return Person{}, err
	}
	p.Requests = requests(events, mails, now)
	for _, e := range events {
		if e.Action == "signin" && e.Outcome == "ok" && p.LastSignIn.IsZero() {
			p.LastSignIn = e.At
		}
		if strings.HasPrefix(e.Action, "desk.") {
			p.History = append(p.History, Entry{At: e.At, Action: strings.TrimPrefix(e.Action, "desk."), Outcome: e.Outcome, Actor: e.Actor, IP: e.IP})
		}
	}
	if acc.Status == account.StatusPending {
		if p.Activation, p.ActivationSince, err = s.Activations.Progress(ctx, acc.ID); err != nil {
			return Person{}, err
		}
	}
	return p, nil
}

// historyDays is how far back a person's page reads the audit.
const historyDays = 90

// requests reads the last 24 hours of recovery requests from the audit
// (what the dispatcher found for this account) and the outbox (whether the
// code's mail left).
func requests(events []audit.Event, mails []MailOutcome, now time.Time) []Request {
	var out []Request
	failed := 0
	for _, m := range mails {
		if m.Status == "failed" && strings.Contains(m.Kind, "code") {
			failed++
		}
	}
	for _, e := range events {
		if now.Sub(e.At) > 24*time.Hour {
			continue
		}
		var outcome string
		switch {
		case e.Action == "recovery.code_sent":
			outcome = "code_mailed"
		case e.Action == "recovery.lookup" && e.Outcome == "no_address":
			outcome = "no_address"
		case e.Action == "recovery.lookup" && e.Outcome == "pending":
			outcome = "pending"
		case e.Action == "recovery.mail" && e.Outcome == "account_budget_spent":
			outcome = "budget_spent"
		default:
			continue
		}
		out = append(out, Request{At: e.At, Outcome: outcome})
	}
	// The outbox does not say which request a failed mail answered: the
	// newest mailed codes are marked failed, as many as failed.
	for i := range out {
		if failed == 0 {
			break
		}
		if out[i].Outcome == "code_mailed" {
			out[i].Outcome = "mail_failed"
			failed--
		}
	}
	return out
}

// find returns an account by its normalised identifier.
func (s *Service) find(ctx context.Context, id string) (account.Account, error) {
	if !account.Plausible(id) || account.IsEmail(id) {
		return account.Account{}, ErrNotFound
	}
	acc, err := s.Accounts.GetAccount(ctx, account.NormaliseIdentifier(id))
	if errors.Is(err, account.ErrNotFound) {
		return account.Account{}, ErrNotFound
	}
	return acc, err
}

// target returns the account an action is about, once the agent is known
// to be allowed to act on it; a refused attempt is itself audited.
func (s *Service) target(ctx context.Context, agent account.Account, action, id, ip string) (account.Account, error) {
	if s.Agent(agent) == None {
		return account.Account{}, ErrNotFound
	}
	acc, err := s.find(ctx, id)
	if err != nil {
		return account.Account{}, err
	}
	if !s.MayActOn(agent, acc) {
		s.record(ctx, action, agent, acc.ID, ip, "forbidden")
		return account.Account{}, ErrForbidden
	}
	return acc, nil
}

// record audits an action of agent on an account.
func (s *Service) record(ctx context.Context, action string, agent account.Account, id, ip, outcome string) {
	_ = s.History.Record(ctx, audit.Event{At: s.Now(), Action: "desk." + action, AccountID: id, Actor: agent.ID, IP: ip, Outcome: outcome})
}
