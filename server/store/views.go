package store

import (
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/audit"
	"github.com/sesame-edu/sesame/server/cas"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/oidc"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/session"
)

// Each view implements the interfaces its domain packages declare; the
// compiler checks it here.
var (
	_ account.Store            = Accounts{}
	_ account.ProfileStore     = Accounts{}
	_ account.SubjectAssigner  = Accounts{}
	_ recovery.Accounts        = Accounts{}
	_ recovery.Store           = Flows{}
	_ activation.Store         = Activations{}
	_ ratelimit.ThrottleStore  = Limits{}
	_ session.Store            = Sessions{}
	_ recovery.Sessions        = Sessions{}
	_ account.SessionRevoker   = Sessions{}
	_ audit.Recorder           = Audit{}
	_ desk.Accounts            = Accounts{}
	_ desk.History             = Audit{}
	_ desk.Mails               = Outbox{}
	_ ratelimit.ThrottleLister = Limits{}
	_ cas.Store                = Tickets{}
	_ cas.LogoutQueue          = Logouts{}
	_ oidc.Store               = OIDC{}
)

// The store is used through one view per purpose, so that each domain
// package is handed what it needs and no more: the accounts and their
// address changes, the recovery flows, the activation flows, the rate
// limits and throttles, the sessions, the mail outbox and the audit log.
// A view is a value holding the one connection; it costs nothing to make.
type (
	// Accounts are people's accounts and their pending address changes.
	Accounts struct{ *Store }
	// Flows are the recovery flows.
	Flows struct{ *Store }
	// Activations are the activation flows; the wizard writes the account
	// at its end, so the view reaches the accounts too.
	Activations struct{ Accounts }
	// Limits are the rate limits' counters and the throttles' states.
	Limits struct{ *Store }
	// Sessions are the signed-in sessions.
	Sessions struct{ *Store }
	// Outbox is the mail outbox.
	Outbox struct{ *Store }
	// Audit is the audit log.
	Audit struct{ *Store }
	// Tickets are the CAS service tickets, and the validated ones that
	// single logout names.
	Tickets struct{ *Store }
	// Logouts are the CAS LogoutRequests waiting for their services.
	Logouts struct{ *Store }
	// OIDC is the OpenID Connect provider's requests, tokens, grants,
	// signing keys and back-channel logout queue.
	OIDC struct{ *Store }
)

// Accounts is the view of the accounts.
func (s *Store) Accounts() Accounts { return Accounts{s} }

// Flows is the view of the recovery flows.
func (s *Store) Flows() Flows { return Flows{s} }

// Activations is the view of the activation flows (and the accounts they
// complete).
func (s *Store) Activations() Activations { return Activations{Accounts{s}} }

// Limits is the view of the rate limits and throttles.
func (s *Store) Limits() Limits { return Limits{s} }

// Sessions is the view of the sessions.
func (s *Store) Sessions() Sessions { return Sessions{s} }

// Outbox is the view of the mail outbox.
func (s *Store) Outbox() Outbox { return Outbox{s} }

// Audit is the view of the audit log.
func (s *Store) Audit() Audit { return Audit{s} }

// Tickets is the view of the CAS service tickets.
func (s *Store) Tickets() Tickets { return Tickets{s} }

// Logouts is the view of the CAS single logout queue.
func (s *Store) Logouts() Logouts { return Logouts{s} }

// OIDC is the view of the OpenID Connect provider's documents.
func (s *Store) OIDC() OIDC { return OIDC{s} }
