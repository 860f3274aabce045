package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
)

// Pending is what the sign-in step needs of an authorization request.
type Pending struct {
	ClientID string
	// None is prompt=none: the application wants an answer without any
	// page shown.
	None bool
	// MaxAge is in seconds, -1 for none; prompt=login makes it 0.
	MaxAge    int64
	LoginHint string
	CreatedAt time.Time
}

// Fresh reports whether a sign-in at authTime satisfies the request's
// prompt=login or max_age: a sign-in made for this request always does.
func (pd Pending) Fresh(authTime, now time.Time) bool {
	if pd.MaxAge < 0 || !authTime.Before(pd.CreatedAt) {
		return true
	}
	return now.Sub(authTime) <= time.Duration(pd.MaxAge)*time.Second
}

// Pending returns the live request of id, or ErrNotFound (unknown,
// expired, or already answered).
func (p *Provider) Pending(ctx context.Context, id string) (Pending, error) {
	a, err := (&storage{p: p}).request(ctx, id)
	if err != nil {
		return Pending{}, err
	}
	if a.Done() {
		return Pending{}, ErrNotFound
	}
	return Pending{ClientID: a.ClientID, None: slices.Contains(a.Prompt, zoidc.PromptNone), MaxAge: a.MaxAge,
		LoginHint: a.LoginHint, CreatedAt: a.CreatedAt}, nil
}

// Complete records that the person acc, signed in at authTime and using
// Sésame in locale, answers request id, and returns the path of op's
// callback, which sends the browser back to the application with a code.
// The caller has checked that the client admits the person.
func (p *Provider) Complete(ctx context.Context, id string, acc account.Account, locale string, authTime time.Time) (string, error) {
	a, err := (&storage{p: p}).request(ctx, id)
	if err != nil {
		return "", err
	}
	accountID := acc.ID
	sub, err := account.SubjectOf(ctx, p.d.Accounts, acc)
	if err != nil {
		return "", fmt.Errorf("oidc: complete request: %w", err)
	}
	now := p.d.Now()
	if err := p.d.Store.CompleteRequest(ctx, a.Key, accountID, sub, locale, authTime, now.Add(p.cfg.CodeTTL)); err != nil {
		return "", fmt.Errorf("oidc: complete request: %w", err)
	}
	// The application now holds a session of this person: a sign-out
	// must tell it (back-channel logout).
	if c, ok := p.d.Clients.Client(a.ClientID); ok && c.BackchannelLogoutURI != "" {
		if err := p.d.Store.RecordGrant(ctx, accountID, a.ClientID, now.Add(p.cfg.RefreshTTL)); err != nil {
			return "", fmt.Errorf("oidc: record grant: %w", err)
		}
	}
	return paths.OIDCAuthorizeCallback + "?id=" + url.QueryEscape(id), nil
}

// Refusals an application understands.
const (
	// LoginRequired answers prompt=none when nobody is signed in.
	LoginRequired = "login_required"
	// AccessDenied ends a request the person may not answer.
	AccessDenied = "access_denied"
)

// Refuse answers request id with reason (LoginRequired, AccessDenied) and
// returns the URL of the application that carries it. The request is
// over.
func (p *Provider) Refuse(ctx context.Context, id, reason string) (string, error) {
	a, err := (&storage{p: p}).request(ctx, id)
	if err != nil {
		return "", err
	}
	e := zoidc.ErrAccessDenied()
	if reason == LoginRequired {
		e = zoidc.ErrLoginRequired()
	}
	_ = p.d.Store.DeleteRequest(ctx, a.Key)
	e.State = a.State
	u, err := op.AuthResponseURL(a.RedirectURI, a.GetResponseType(), a.GetResponseMode(), e, p.op.Encoder())
	if err != nil {
		return "", fmt.Errorf("oidc: refuse: %w", err)
	}
	p.record(ctx, "oidc.authorize", a.ClientID, a.AccountID, string(e.ErrorType))
	return u, nil
}

// endSessionTTL is how long the signed end-session step stays valid.
const endSessionTTL = 10 * time.Minute

// endSessionURL is server/web's sign-out step, signed so that it cannot be
// forged into an open redirect: to was validated by op (a registered
// post_logout_redirect_uri, or Sésame's home).
func (p *Provider) endSessionURL(sub, clientID, to string) string {
	q := url.Values{"to": {to}, "exp": {strconv.FormatInt(p.d.Now().Add(endSessionTTL).Unix(), 10)}}
	if sub != "" {
		q.Set("sub", sub)
	}
	if clientID != "" {
		q.Set("client", clientID)
	}
	q.Set("sig", p.endSessionSig(q))
	return paths.OIDCEndSessionStep + "?" + q.Encode()
}

func (p *Provider) endSessionSig(q url.Values) string {
	m := hmac.New(sha256.New, p.exitKey)
	for _, k := range []string{"to", "exp", "sub", "client"} {
		m.Write([]byte(k + "=" + q.Get(k) + "\x00"))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// EndSession is an application's request to end the person's session, as
// op validated it.
type EndSession struct {
	// To is where the browser goes next.
	To string
	// Subject is the sub of the id_token_hint ("" without one): Sésame's
	// session ends without asking only when it is the person signed in.
	Subject  string
	ClientID string
}

// EndSessionStep checks the signed parameters of the sign-out step.
func (p *Provider) EndSessionStep(q url.Values) (EndSession, bool) {
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil || p.d.Now().Unix() > exp || q.Get("to") == "" {
		return EndSession{}, false
	}
	if !hmac.Equal([]byte(q.Get("sig")), []byte(p.endSessionSig(q))) {
		return EndSession{}, false
	}
	return EndSession{To: q.Get("to"), Subject: q.Get("sub"), ClientID: q.Get("client")}, true
}
