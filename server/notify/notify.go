// Package notify writes Sésame's mails: it words them in the recipient's
// language, renders the templ HTML part and its plain-text twin, and puts
// them in the outbox. It implements the Notifier interfaces of the flows.
package notify

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/recovery"
)

// Enqueuer puts a message in the outbox.
type Enqueuer interface {
	Enqueue(ctx context.Context, m mail.Message) (string, error)
	// EnqueueOnce queues a message once per key.
	EnqueueOnce(ctx context.Context, key string, m mail.Message) error
}

// Notifier composes and queues mails.
type Notifier struct {
	out    Enqueuer
	cat    *i18n.Catalog
	school string
	legal  map[string]string
	loc    *time.Location
	// letter is what the school calls the activation letter.
	letter string
}

// New returns a Notifier branded with the school's name. legal is the
// school's legal paragraph by language, at the foot of every mail (none
// when empty); a language without its own text gets the French one.
func New(out Enqueuer, cat *i18n.Catalog, school string, legal map[string]string, loc *time.Location) *Notifier {
	return &Notifier{out: out, cat: cat, school: school, legal: legal, loc: loc, letter: "Sésame"}
}

// WithLetterName names the activation letter as the school does
// (« PASS'UM »); the mails that send people to activate say it.
func (n *Notifier) WithLetterName(name string) *Notifier {
	if name != "" {
		n.letter = name
	}
	return n
}

// legalText is the legal paragraph in lang, falling back to French.
func (n *Notifier) legalText(lang string) string {
	if s := strings.TrimSpace(n.legal[lang]); s != "" {
		return s
	}
	return strings.TrimSpace(n.legal["fr"])
}

// Compose words and renders a mail without queueing it (golden tests use it).
func (n *Notifier) Compose(p views.MailProps) (subject, text, html string, err error) {
	var b bytes.Buffer
	if err := views.MailHTML(p).Render(context.Background(), &b); err != nil {
		return "", "", "", fmt.Errorf("notify: render: %w", err)
	}
	return p.Subject, views.MailText(p), b.String(), nil
}

func (n *Notifier) base(lang, subjectKey string) (views.MailProps, *i18n.Localizer) {
	t := n.cat.For(lang)
	return views.MailProps{
		Lang:     t.Lang(),
		School:   n.school,
		Subject:  t.T(subjectKey, "School", n.school),
		Greeting: t.T("mail.greeting"),
		Footer:   t.T("mail.footer"),
		LinkHint: t.T("mail.link_hint"),
		Legal:    n.legalText(t.Lang()),
	}, t
}

func (n *Notifier) send(ctx context.Context, to, kind, accountID string, p views.MailProps) error {
	return n.sendOnce(ctx, "", to, kind, accountID, p)
}

// sendOnce queues a mail; with a key, a second call with the same key (a
// step run again after a crash) queues nothing.
func (n *Notifier) sendOnce(ctx context.Context, key, to, kind, accountID string, p views.MailProps) error {
	subject, text, html, err := n.Compose(p)
	if err != nil {
		return err
	}
	m := mail.Message{To: to, Subject: subject, Text: text, HTML: html, Lang: p.Lang, Kind: kind, AccountID: accountID}
	if key != "" {
		err = n.out.EnqueueOnce(ctx, key, m)
	} else {
		_, err = n.out.Enqueue(ctx, m)
	}
	if err != nil {
		return fmt.Errorf("notify: %s: %w", kind, err)
	}
	return nil
}

// RecoveryCodeProps words the security-code mail.
func (n *Notifier) RecoveryCodeProps(r recovery.CodeNotice) views.MailProps {
	p, t := n.base(r.Lang, "mail.code.subject")
	minutes := int(math.Round(r.ValidFor.Minutes()))
	p.Why = t.T("mail.code.why", "School", n.school)
	p.CodeLabel = t.T("mail.code.label")
	p.Code = r.Code
	for _, a := range r.Accounts {
		p.Identifiers = append(p.Identifiers, a.Identifier)
	}
	p.IDLabel = t.T("mail.code.identifiers", "Count", len(p.Identifiers))
	p.ButtonURL, p.ButtonLabel = r.Link, t.T("mail.code.button")
	p.Validity = t.T("mail.code.validity", "Minutes", minutes, "Count", minutes)
	p.Ignore = t.T("mail.code.ignore")
	return p
}

// RecoveryCode queues the security-code mail.
func (n *Notifier) RecoveryCode(ctx context.Context, r recovery.CodeNotice) error {
	return n.sendOnce(ctx, r.Key, r.To, "recovery_code", first(r.Accounts), n.RecoveryCodeProps(r))
}

// GuardianCodeProps words the code mailed to a guardian for a child who has
// no address of their own: which child asked, from which kind of device and
// when, and what to do if the child did not ask.
func (n *Notifier) GuardianCodeProps(r recovery.GuardianCodeNotice) views.MailProps {
	p, t := n.base(r.Lang, "mail.guardian_code.subject")
	minutes := int(math.Round(r.ValidFor.Minutes()))
	at := r.At.In(n.loc)
	device := t.T("mail.device.unknown")
	if r.Device != "" {
		device = t.T("mail.device." + string(r.Device))
	}
	child := r.Child.FullName()
	p.Why = t.T("mail.guardian_code.why", "School", n.school, "Child", child, "Identifier", r.Child.Identifier,
		"Device", device, "Date", at.Format("02/01/2006"), "Time", t.Clock(at))
	p.CodeLabel = t.T("mail.guardian_code.label", "Child", child)
	p.Code = r.Code
	p.Validity = t.T("mail.code.validity", "Minutes", minutes, "Count", minutes)
	p.Ignore = t.T("mail.guardian_code.ignore")
	return p
}

// GuardianCode queues the child's code to one guardian.
func (n *Notifier) GuardianCode(ctx context.Context, r recovery.GuardianCodeNotice) error {
	return n.sendOnce(ctx, r.Key, r.To, "recovery_code_guardian", r.Child.ID, n.GuardianCodeProps(r))
}

// IdentifierReminderProps words the forgotten-identifier mail.
func (n *Notifier) IdentifierReminderProps(r recovery.ReminderNotice) views.MailProps {
	p, t := n.base(r.Lang, "mail.reminder.subject")
	p.Why = t.T("mail.reminder.why", "School", n.school)
	for i, a := range r.Accounts {
		// With the name: a shared address's family must know whose is whose.
		p.Identifiers = append(p.Identifiers, t.T("mail.reminder.account", "Identifier", a.Identifier, "Name", a.FullName()))
		if i < len(r.Links) {
			p.Links = append(p.Links, views.MailLink{Label: t.T("mail.reminder.reset", "Identifier", a.Identifier), URL: r.Links[i]})
		}
	}
	p.IDLabel = t.T("mail.code.identifiers", "Count", len(p.Identifiers))
	for _, c := range r.Children {
		// A child's identifier with the name: a parent of three needs to
		// know which is whose.
		p.Identifiers = append(p.Identifiers, t.T("mail.reminder.child", "Identifier", c.Identifier,
			"Name", c.FullName()))
	}
	if len(r.Children) > 0 {
		p.IDLabel = t.T("mail.reminder.with_children")
	}
	p.Validity = t.T("mail.reminder.validity")
	p.Ignore = t.T("mail.reminder.ignore")
	return p
}

// IdentifierReminder queues the forgotten-identifier mail.
func (n *Notifier) IdentifierReminder(ctx context.Context, r recovery.ReminderNotice) error {
	id := ""
	if len(r.Accounts) > 0 {
		id = r.Accounts[0].ID
	}
	return n.sendOnce(ctx, r.Key, r.To, "identifier_reminder", id, n.IdentifierReminderProps(r))
}

// ActivateFirstProps words the mail to the address of an account not yet
// activated: a request named it, and it must be activated first.
func (n *Notifier) ActivateFirstProps(r recovery.ActivateFirstNotice) views.MailProps {
	p, t := n.base(r.Lang, "mail.activate_first.subject")
	p.Why = t.T("mail.activate_first.why", "School", n.school, "Letter", n.letter)
	for i, a := range r.Accounts {
		p.Identifiers = append(p.Identifiers, t.T("mail.reminder.named", "Identifier", a.Identifier, "Name", a.FullName()))
		if i < len(r.Links) {
			p.Links = append(p.Links, views.MailLink{Label: t.T("mail.activate_first.link", "Identifier", a.Identifier), URL: r.Links[i]})
		}
	}
	p.IDLabel = t.T("mail.activate_first.identifiers", "Count", len(r.Accounts))
	p.Validity = t.T("mail.activate_first.validity")
	p.Ignore = t.T("mail.activate_first.ignore")
	return p
}

// ActivateFirst queues the mail saying an account must first be activated.
func (n *Notifier) ActivateFirst(ctx context.Context, r recovery.ActivateFirstNotice) error {
	return n.sendOnce(ctx, r.Key, r.To, "activate_first", first(r.Accounts), n.ActivateFirstProps(r))
}

// PasswordChangedProps words the "your password was changed" notice.
func (n *Notifier) PasswordChangedProps(r recovery.ChangedNotice) views.MailProps {
	p, t := n.base(r.Lang, "mail.changed.subject")
	at := r.At.In(n.loc)
	p.Why = t.T("mail.changed.why", "School", n.school, "Identifier", r.Account.Identifier,
		"Date", at.Format("02/01/2006"), "Time", t.Clock(at))
	p.Validity = t.T("mail.changed.sessions")
	p.Ignore = t.T("mail.changed.ignore")
	return p
}

// PasswordChanged queues the notice.
func (n *Notifier) PasswordChanged(ctx context.Context, r recovery.ChangedNotice) error {
	return n.send(ctx, r.To, "password_changed", r.Account.ID, n.PasswordChangedProps(r))
}

func first(accs []account.Account) string {
	if len(accs) == 0 {
		return ""
	}
	return accs[0].ID
}

// ConfirmEmailProps words the mail asking a new address to confirm.
func (n *Notifier) ConfirmEmailProps(lang string, acc account.Account, link string, validFor time.Duration) views.MailProps {
	p, t := n.base(lang, "mail.confirm.subject")
	hours := int(math.Round(validFor.Hours()))
	p.Why = t.T("mail.confirm.why", "School", n.school, "Identifier", acc.Identifier)
	p.ButtonURL, p.ButtonLabel = link, t.T("mail.confirm.button")
	p.Validity = t.T("mail.confirm.validity", "Hours", hours, "Count", hours)
	p.Ignore = t.T("mail.confirm.ignore")
	return p
}

// ConfirmEmail queues the confirmation mail to the new address.
func (n *Notifier) ConfirmEmail(ctx context.Context, lang, to string, acc account.Account, link string, validFor time.Duration) error {
	return n.send(ctx, to, "email_confirm", acc.ID, n.ConfirmEmailProps(lang, acc, link, validFor))
}

// EmailChangeRequestedProps words the notice to the current address that a
// change was asked, with the link that cancels it.
func (n *Notifier) EmailChangeRequestedProps(lang string, acc account.Account, newAddress, cancelLink string, validFor time.Duration) views.MailProps {
	p, t := n.base(lang, "mail.change_requested.subject")
	hours := int(math.Round(validFor.Hours()))
	p.Why = t.T("mail.change_requested.why", "School", n.school, "Identifier", acc.Identifier, "Email", newAddress)
	p.ButtonURL, p.ButtonLabel = cancelLink, t.T("mail.change_requested.button")
	p.Validity = t.T("mail.change_requested.validity", "Hours", hours, "Count", hours)
	p.Ignore = t.T("mail.change_requested.ignore")
	return p
}

// EmailChangeRequested queues the notice to the current address.
func (n *Notifier) EmailChangeRequested(ctx context.Context, lang, to string, acc account.Account, newAddress, cancelLink string, validFor time.Duration) error {
	return n.send(ctx, to, "email_change_requested", acc.ID, n.EmailChangeRequestedProps(lang, acc, newAddress, cancelLink, validFor))
}

// EmailChangedProps words the notice to the old address.
func (n *Notifier) EmailChangedProps(lang string, acc account.Account, newAddress string) views.MailProps {
	p, t := n.base(lang, "mail.moved.subject")
	p.Why = t.T("mail.moved.why", "School", n.school, "Identifier", acc.Identifier, "Email", newAddress)
	p.Ignore = t.T("mail.moved.ignore")
	return p
}

// EmailChanged tells the old address that the account's address changed.
func (n *Notifier) EmailChanged(ctx context.Context, lang, oldAddress string, acc account.Account, newAddress string) error {
	return n.send(ctx, oldAddress, "email_changed", acc.ID, n.EmailChangedProps(lang, acc, newAddress))
}

// PasswordNotice tells someone their password was changed from their
// personal page.
func (n *Notifier) PasswordNotice(ctx context.Context, lang string, acc account.Account, at time.Time) error {
	return n.PasswordChanged(ctx, recovery.ChangedNotice{Lang: lang, To: acc.Email, Account: acc, At: at})
}

// VerifyAddressProps words the mail verifying an activation address.
func (n *Notifier) VerifyAddressProps(a activation.LinkNotice) views.MailProps {
	p, t := n.base(a.Lang, "mail.verify.subject")
	why := "mail.verify.why_rescue"
	if a.Purpose == "redirect" {
		why = "mail.verify.why_redirect"
	}
	p.Why = t.T(why, "School", n.school, "Identifier", a.Account.Identifier)
	p.ButtonURL, p.ButtonLabel = a.Link, t.T("mail.verify.button")
	p.Validity = t.T("mail.verify.validity", "Time", t.Clock(a.Deadline.In(n.loc)))
	p.Ignore = t.T("mail.verify.ignore")
	return p
}

// VerifyAddress queues the mail verifying a rescue or redirection address.
func (n *Notifier) VerifyAddress(ctx context.Context, a activation.LinkNotice) error {
	return n.send(ctx, a.To, "activation_"+a.Purpose, a.Account.ID, n.VerifyAddressProps(a))
}
