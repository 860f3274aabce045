package desk

import (
	"context"
	"errors"
	"strings"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/refusal"
)

// The actions, one word each: the route (paths.DeskSendCode…), the
// handler (web's deskSendCode…), the method here and the audit's action
// ("desk.send_code"…) carry it.
const (
	ActionSendCode    = "send_code"
	ActionEmail       = "email"
	ActionLift        = "lift"
	ActionEndSessions = "end_sessions"
	ActionLetter      = "letter"
	ActionBatch       = "batch"
	ActionImport      = "import"
)

// SendCode sends a recovery code to the person's address on file, by the
// self-service path: the agent never sees the code nor the link, and the
// same limits apply. A pending account or one without an address gets
// nothing, and the agent is told why.
func (s *Service) SendCode(ctx context.Context, agent account.Account, id, lang, ip string) (refusal.List, error) {
	acc, err := s.target(ctx, agent, ActionSendCode, id, ip)
	if err != nil {
		return nil, err
	}
	switch {
	case acc.Status != account.StatusActive:
		s.record(ctx, ActionSendCode, agent, acc.ID, ip, "pending")
		return refusal.List{}.Add("code", refusal.Pending), nil
	case acc.Email == "" && len(acc.Guardians) == 0:
		s.record(ctx, ActionSendCode, agent, acc.ID, ip, "no_address")
		return refusal.List{}.Add("code", refusal.NoAddress), nil
	}
	if err := s.Codes.SendCodeFor(ctx, acc, lang, ip); err != nil {
		if rl, ok := errors.AsType[*recovery.RateLimitedError](err); ok {
			s.record(ctx, ActionSendCode, agent, acc.ID, ip, "rate_limited")
			return refusal.List{{Field: "code", Reason: refusal.Throttled, Wait: rl.RetryAfter}}, nil
		}
		return nil, err
	}
	s.record(ctx, ActionSendCode, agent, acc.ID, ip, "ok")
	return nil, nil
}

// CorrectEmail mails a confirmation link to the address the person gives
// the agent; the address on file changes only when the link is used.
func (s *Service) CorrectEmail(ctx context.Context, agent account.Account, id, email, lang, ip string) (refusal.List, error) {
	acc, err := s.target(ctx, agent, ActionEmail, id, ip)
	if err != nil {
		return nil, err
	}
	email = strings.TrimSpace(email)
	switch {
	case email == "":
		return refusal.List{}.Add("email", refusal.Missing), nil
	case len(email) > 254:
		return refusal.List{}.Add("email", refusal.TooLong), nil
	case !account.ValidEmail(email):
		return refusal.List{}.Add("email", refusal.Invalid), nil
	case account.NormaliseEmail(email) == account.NormaliseEmail(acc.Email):
		return refusal.List{}.Add("email", refusal.Same), nil
	}
	l, err := s.Emails.ProposeEmail(ctx, acc, email, lang, ip, agent.ID)
	if err != nil {
		return nil, err
	}
	if len(l) > 0 {
		s.record(ctx, ActionEmail, agent, acc.ID, ip, "refused")
		return l, nil
	}
	s.record(ctx, ActionEmail, agent, acc.ID, ip, "link_sent")
	return nil, nil
}

// Lift forgets the person's password failures, from every source.
func (s *Service) Lift(ctx context.Context, agent account.Account, id, ip string) error {
	acc, err := s.target(ctx, agent, ActionLift, id, ip)
	if err != nil {
		return err
	}
	n, err := s.Throttles.Lift(ctx, acc.ID)
	if err != nil {
		return err
	}
	outcome := "ok"
	if n == 0 {
		outcome = "none"
	}
	s.record(ctx, ActionLift, agent, acc.ID, ip, outcome)
	return nil
}

// EndSessions signs the person out everywhere.
func (s *Service) EndSessions(ctx context.Context, agent account.Account, id, ip string) error {
	acc, err := s.target(ctx, agent, ActionEndSessions, id, ip)
	if err != nil {
		return err
	}
	if err := s.Sessions.RevokeAll(ctx, acc.ID); err != nil {
		return err
	}
	s.record(ctx, ActionEndSessions, agent, acc.ID, ip, "ok")
	return nil
}
