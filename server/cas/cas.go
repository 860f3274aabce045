// Package cas is Sésame's CAS server (Apereo CAS protocol 3.0): the
// service tickets a signed-in person carries to an application, the rules
// that validate them, the attributes each application receives, the XML
// answers, and single logout.
//
// It knows no HTTP framework and no database: web adapts its endpoints
// (/cas/login, /cas/serviceValidate …), and store keeps its tickets
// through the small interfaces declared here.
package cas

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/keys"
)

// TicketTTL is how long a service ticket may wait for its validation: the
// browser carries it straight to the application, which validates it at
// once. The protocol allows at most five minutes.
const TicketTTL = 5 * time.Minute

// TicketPrefix begins every service ticket (protocol 3.1.1).
const TicketPrefix = "ST-"

// ErrNotFound means no live ticket has this id: never issued, already
// validated, or swept.
var ErrNotFound = errors.New("cas: ticket not found")

// Error codes of a failed validation (protocol 2.5.3 and 3.x).
const (
	InvalidRequest = "INVALID_REQUEST"
	InvalidTicket  = "INVALID_TICKET"
	InvalidService = "INVALID_SERVICE"
	InternalError  = "INTERNAL_ERROR"
)

// Ticket is an issued service ticket as it is stored: under the SHA-256 of
// the ticket, bound to the one service URL it was issued for.
type Ticket struct {
	ID        string // keys.HashToken of the ticket
	Service   string
	ClientID  string
	AccountID string
	// AuthTime is when the person typed their password (the session's
	// start), released as authenticationDate.
	AuthTime  time.Time
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Renewed records that the ticket followed a password typed for this
	// request (renew, isFromNewLogin), not a session that already existed.
	Renewed bool
}

// Store keeps tickets, and the validated tickets of services that asked
// for single logout.
type Store interface {
	SaveTicket(ctx context.Context, t Ticket) error
	// TakeTicket returns the ticket and makes it unusable, atomically
	// across instances: of concurrent callers exactly one gets it, the
	// others ErrNotFound. It returns expired tickets too; Validate judges.
	TakeTicket(ctx context.Context, id string) (Ticket, error)
	SaveLogin(ctx context.Context, l Login) error
	// TakeLogins returns and forgets the logins of an account.
	TakeLogins(ctx context.Context, accountID string) ([]Login, error)
}

// Clients finds the applications of the school's file.
type Clients interface {
	Client(id string) (clients.Client, bool)
}

// Service issues and validates service tickets.
type Service struct {
	store    Store
	clients  Clients
	accounts account.Looker
	audit    audit.Recorder
	log      *slog.Logger
	now      func() time.Time
}

// New returns the CAS service.
func New(store Store, cs Clients, accounts account.Looker, rec audit.Recorder, log *slog.Logger, now func() time.Time) *Service {
	return &Service{store: store, clients: cs, accounts: accounts, audit: rec, log: log, now: now}
}

// newTicket returns ST- and 168 random bits: 31 characters in all, under
// the 32 that every CAS client must accept.
func newTicket() (string, error) {
	b := make([]byte, 21)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cas: ticket: %w", err)
	}
	return TicketPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Issue returns a new service ticket for acc to carry to service, an URL
// that c accepts. The caller has checked that c admits acc's population;
// Issue checks both again, so that no path hands out a ticket it should not.
func (s *Service) Issue(ctx context.Context, c clients.Client, service string, acc account.Account, authTime time.Time, renewed bool, ip string) (string, error) {
	if !c.MatchService(service) || !c.Admits(acc.Population) {
		return "", fmt.Errorf("cas: issue: %q may not have a ticket for %q", acc.ID, c.ID)
	}
	tok, err := newTicket()
	if err != nil {
		return "", err
	}
	now := s.now()
	t := Ticket{ID: keys.HashToken(tok), Service: service, ClientID: c.ID, AccountID: acc.ID,
		AuthTime: authTime, IssuedAt: now, ExpiresAt: now.Add(TicketTTL), Renewed: renewed}
	if err := s.store.SaveTicket(ctx, t); err != nil {
		return "", fmt.Errorf("cas: issue: %w", err)
	}
	s.record(ctx, "cas.ticket", c.ID, acc.ID, ip, "issued")
	return tok, nil
}

// Validation is the outcome of a ticket's validation: Code is empty on
// success, else one of the protocol's error codes, with Message for the
// application's logs.
type Validation struct {
	Code, Message string
	Account       account.Account
	Client        clients.Client
	Ticket        Ticket
}

// OK reports whether the ticket was valid.
func (v Validation) OK() bool { return v.Code == "" }

func refused(code, format string, args ...any) Validation {
	return Validation{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Validate checks a ticket presented by service, and uses it up whatever
// the outcome (protocol 3.1.1: one validation attempt per ticket). renew
// asks that the ticket follow a password typed for it. The error is only
// for the store failing (INTERNAL_ERROR); refusals are Validations.
func (s *Service) Validate(ctx context.Context, ticket, service string, renew bool, ip string) (Validation, error) {
	if ticket == "" || service == "" {
		return refused(InvalidRequest, "both ticket and service are required"), nil
	}
	// The ticket is never echoed back: it would land in the application's
	// logs, and it says nothing the application does not know.
	if !strings.HasPrefix(ticket, TicketPrefix) || len(ticket) > 256 {
		s.record(ctx, "cas.validate", "", "", ip, "invalid_ticket")
		return refused(InvalidTicket, "ticket not recognized"), nil
	}
	t, err := s.store.TakeTicket(ctx, keys.HashToken(ticket))
	if errors.Is(err, ErrNotFound) {
		s.record(ctx, "cas.validate", "", "", ip, "invalid_ticket")
		return refused(InvalidTicket, "ticket not recognized"), nil
	}
	if err != nil {
		return refused(InternalError, "the server could not validate the ticket"), fmt.Errorf("cas: validate: %w", err)
	}
	fail := func(code, outcome, format string, args ...any) (Validation, error) {
		s.record(ctx, "cas.validate", t.ClientID, t.AccountID, ip, outcome)
		return refused(code, format, args...), nil
	}
	if !s.now().Before(t.ExpiresAt) {
		return fail(InvalidTicket, "expired", "ticket not recognized")
	}
	if t.Service != service {
		return fail(InvalidService, "invalid_service", "ticket was not issued for this service")
	}
	if renew && !t.Renewed {
		return fail(InvalidTicket, "not_renewed", "ticket did not come from an initial login and renew was requested")
	}
	c, ok := s.clients.Client(t.ClientID)
	if !ok || !c.MatchService(service) {
		return fail(InvalidService, "invalid_service", "service is no longer allowed")
	}
	acc, err := s.accounts.GetAccount(ctx, t.AccountID)
	if errors.Is(err, account.ErrNotFound) || (err == nil && !c.Admits(acc.Population)) {
		return fail(InvalidTicket, "account_gone", "ticket not recognized")
	}
	if err != nil {
		return refused(InternalError, "the server could not validate the ticket"), fmt.Errorf("cas: validate: %w", err)
	}
	if c.SingleLogout {
		// The ticket is spent: keeping it now lets the sign-out name it to
		// the application (SessionIndex) without it opening anything.
		l := Login{ID: t.ID, AccountID: acc.ID, ClientID: c.ID, Service: service, Ticket: ticket,
			ExpiresAt: s.now().Add(LoginTTL)}
		if err := s.store.SaveLogin(ctx, l); err != nil {
			return refused(InternalError, "the server could not validate the ticket"), fmt.Errorf("cas: validate: %w", err)
		}
	}
	s.record(ctx, "cas.validate", c.ID, acc.ID, ip, "ok")
	return Validation{Account: acc, Client: c, Ticket: t}, nil
}

// record audits a ticket's issue or validation. The ticket is never
// recorded; a failed audit write must not refuse the person.
func (s *Service) record(ctx context.Context, action, clientID, accountID, ip, outcome string) {
	if s.audit == nil {
		return
	}
	_ = s.audit.Record(ctx, audit.Event{At: s.now(), Action: action, Client: clientID, AccountID: accountID, IP: ip, Outcome: outcome})
}

// WithTicket is service with the ticket appended to its query, before any
// fragment, as the protocol asks (2.2.4).
func WithTicket(service, ticket string) string {
	base, frag, hasFrag := strings.Cut(service, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	out := base + sep + "ticket=" + ticket
	if hasFrag {
		out += "#" + frag
	}
	return out
}
