package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/keys"
)

// logoutTokenTTL is a logout token's life: it is signed at delivery, so
// it need only outlive the request that carries it.
const logoutTokenTTL = 2 * time.Minute

// SignedOut is the session.SignOut listener: every session of accountID
// ended (a sign-out, a password reset or change). The person's tokens are
// revoked, and every application that declared a backchannel_logout_uri
// and that the person signed in to gets a logout token, queued in the
// store and delivered by Run, with retries. Failures are logged: a
// sign-out never fails because an application is down.
func (p *Provider) SignedOut(ctx context.Context, accountID string) {
	if err := p.d.Store.RevokeAccount(ctx, accountID); err != nil {
		p.d.Log.Error("oidc: revoke the tokens of a signed-out account", "account", accountID, "err", err)
	}
	now := p.d.Now()
	queued := false
	for _, c := range p.d.Clients.All() {
		if c.Protocol != clients.OIDC || c.BackchannelLogoutURI == "" {
			continue
		}
		signedIn, err := p.d.Store.TakeGrant(ctx, accountID, c.ID)
		if err != nil {
			p.d.Log.Error("oidc: back-channel logout: read grant", "client", c.ID, "err", err)
			continue
		}
		if !signedIn {
			continue
		}
		l := Logout{ID: keys.RandomHex(16), ClientID: c.ID, AccountID: accountID, NextAttemptAt: now,
			ExpiresAt: now.Add(p.cfg.LogoutMaxAge)}
		if err := p.d.Store.QueueLogout(ctx, l); err != nil {
			p.d.Log.Error("oidc: back-channel logout: queue", "client", c.ID, "err", err)
			continue
		}
		queued = true
	}
	if queued {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Run delivers queued back-channel logouts until ctx ends: at once when
// this instance queued one, every LogoutPoll otherwise (retries, and what
// other instances queued). It also creates the signing keys at start.
func (p *Provider) Run(ctx context.Context) {
	if err := p.EnsureKeys(ctx); err != nil && ctx.Err() == nil {
		p.d.Log.Error("oidc: signing keys", "err", err)
	}
	t := time.NewTicker(p.cfg.LogoutPoll)
	defer t.Stop()
	for {
		if _, err := p.DeliverLogouts(ctx); err != nil && ctx.Err() == nil {
			p.d.Log.Warn("oidc: back-channel logouts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.wake:
		}
	}
}

// errPermanent is an answer that retrying will not change: the
// application refused the token.
var errPermanent = errors.New("oidc: back-channel logout refused")

// DeliverLogouts makes one attempt at every due logout and returns how
// many were delivered.
func (p *Provider) DeliverLogouts(ctx context.Context) (int, error) {
	now := p.d.Now()
	due, err := p.d.Store.DueLogouts(ctx, now, 50)
	if err != nil {
		return 0, fmt.Errorf("oidc: due logouts: %w", err)
	}
	sent := 0
	for _, l := range due {
		first, err := p.d.Store.ClaimLogout(ctx, l.ID, l.Attempts+1, l.ExpiresAt.Add(time.Hour))
		if err != nil {
			return sent, fmt.Errorf("oidc: claim logout: %w", err)
		}
		if !first {
			continue // another instance makes this attempt
		}
		err = p.deliver(ctx, l)
		switch {
		case err == nil:
			sent++
			p.record(ctx, "oidc.backchannel_logout", l.ClientID, l.AccountID, "ok")
			err = p.d.Store.DeleteLogout(ctx, l.ID)
		case errors.Is(err, errPermanent) || !now.Before(l.ExpiresAt):
			p.d.Log.Warn("oidc: back-channel logout given up", "client", l.ClientID, "attempts", l.Attempts+1, "err", err)
			p.record(ctx, "oidc.backchannel_logout", l.ClientID, l.AccountID, "failed")
			err = p.d.Store.DeleteLogout(ctx, l.ID)
		default:
			p.d.Log.Info("oidc: back-channel logout will be retried", "client", l.ClientID, "attempts", l.Attempts+1, "err", err)
			err = p.d.Store.RescheduleLogout(ctx, l.ID, l.Attempts+1, now.Add(p.backoff(l.Attempts+1)))
		}
		if err != nil {
			return sent, fmt.Errorf("oidc: record logout attempt: %w", err)
		}
	}
	return sent, nil
}

// backoff is the wait after failed attempt n (1 for the first).
func (p *Provider) backoff(n int) time.Duration {
	d := p.cfg.LogoutFirstRetry
	for i := 1; i < n && d < p.cfg.LogoutMaxRetry; i++ {
		d *= 2
	}
	return min(d, p.cfg.LogoutMaxRetry)
}

// deliver signs a logout token for l and POSTs it to the client's
// backchannel_logout_uri (Back-Channel Logout 1.0, section 2.5).
func (p *Provider) deliver(ctx context.Context, l Logout) error {
	c, ok := p.d.Clients.Client(l.ClientID)
	if !ok || c.BackchannelLogoutURI == "" {
		return fmt.Errorf("%w: client %q no longer has a backchannel_logout_uri", errPermanent, l.ClientID)
	}
	token, err := p.LogoutToken(ctx, l.ClientID, l.AccountID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := p.d.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("oidc: back-channel logout: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: %s answered %d", errPermanent, l.ClientID, res.StatusCode)
	default:
		return fmt.Errorf("oidc: back-channel logout: %s answered %d", l.ClientID, res.StatusCode)
	}
}

// LogoutToken signs a logout token telling clientID that accountID's
// session ended, with the provider's current key (zitadel/oidc's claims,
// go-jose's signer, typ logout+jwt as the specification recommends).
func (p *Provider) LogoutToken(ctx context.Context, clientID, accountID string) (string, error) {
	k, err := p.keys.signing(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: &jose.JSONWebKey{Key: k.private, KeyID: k.id}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", fmt.Errorf("oidc: logout token signer: %w", err)
	}
	sub, err := p.subject(ctx, accountID)
	if err != nil {
		return "", err
	}
	claims := zoidc.NewLogoutTokenClaims(issuer(p.d.Issuer), sub, zoidc.Audience{clientID},
		p.d.Now().Add(logoutTokenTTL), keys.RandomHex(16), "", 0)
	return crypto.Sign(claims, signer)
}
