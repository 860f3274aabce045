package notify

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/recovery"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type captured struct{ msgs []mail.Message }

func (c *captured) Enqueue(_ context.Context, m mail.Message) (string, error) {
	c.msgs = append(c.msgs, m)
	return "id", nil
}

func (c *captured) EnqueueOnce(ctx context.Context, _ string, m mail.Message) error {
	_, err := c.Enqueue(ctx, m)
	return err
}

func newNotifier(t *testing.T) (*Notifier, *captured) {
	t.Helper()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Europe/Paris")
	c := &captured{}
	return New(c, cat, "Lycée Jean Moulin", loc), c
}

var (
	anne = account.Account{ID: "p001", Identifier: "P001", Email: "famille@example.fr", FirstName: "Anne", LastName: "Durand"}
	paul = account.Account{ID: "p002", Identifier: "P002", Email: "famille@example.fr", FirstName: "Paul", LastName: "Durand"}
	zoe  = account.Account{ID: "e500", Identifier: "E500", FirstName: "Zoé", LastName: "Durand", Guardians: []string{"p001"}}
)

// TestGoldenMails renders every mail in every language and compares it with
// testdata/. Run `go test ./server/notify -update` after a deliberate change
// and read the diff.
func TestGoldenMails(t *testing.T) {
	n, _ := newNotifier(t)
	at := time.Date(2026, 11, 26, 17, 5, 0, 0, time.UTC)
	for _, lang := range i18n.Languages() {
		mails := map[string]views.MailProps{
			"recovery_code": n.RecoveryCodeProps(recovery.CodeNotice{Lang: lang, To: anne.Email, Accounts: []account.Account{anne}, Code: "T3A8XQ",
				Link: "https://sesame.example/recovery/code?code=T3A8XQ&flow=f1", ValidFor: 15 * time.Minute}),
			"recovery_code_shared": n.RecoveryCodeProps(recovery.CodeNotice{Lang: lang, To: anne.Email, Accounts: []account.Account{anne, paul}, Code: "K7M2WZ",
				Link: "https://sesame.example/recovery/code?code=K7M2WZ&flow=f2", ValidFor: 15 * time.Minute}),
			"identifier_reminder": n.IdentifierReminderProps(recovery.ReminderNotice{Lang: lang, To: anne.Email, Accounts: []account.Account{anne, paul},
				Links: []string{"https://sesame.example/recovery?identifier=P001&population=parents", "https://sesame.example/recovery?identifier=P002&population=parents"}}),
			"recovery_code_guardian": n.GuardianCodeProps(recovery.GuardianCodeNotice{Lang: lang, To: anne.Email, Guardian: anne, Child: zoe,
				Code: "H4N9RT", ValidFor: 15 * time.Minute, Device: recovery.DevicePhone, At: at}),
			"identifier_reminder_children": n.IdentifierReminderProps(recovery.ReminderNotice{Lang: lang, To: anne.Email, Accounts: []account.Account{anne},
				Children: []account.Account{zoe}, Links: []string{"https://sesame.example/recovery?identifier=P001&population=parents"}}),
			"activate_first": n.ActivateFirstProps(recovery.ActivateFirstNotice{Lang: lang, To: "eric.noel@example.fr",
				Accounts: []account.Account{{ID: "s100", Identifier: "S100", FirstName: "Éric", LastName: "Noël"}},
				Links:    []string{"https://sesame.example/activation?identifier=S100"}}),
			"password_changed":       n.PasswordChangedProps(recovery.ChangedNotice{Lang: lang, To: anne.Email, Account: anne, At: at}),
			"email_confirm":          n.ConfirmEmailProps(lang, anne, "https://sesame.example/account/email/confirm?token=abc", 24*time.Hour),
			"email_changed":          n.EmailChangedProps(lang, anne, "anne.durand@example.org"),
			"email_change_requested": n.EmailChangeRequestedProps(lang, anne, "anne.durand@example.org", "https://sesame.example/account/email/cancel?token=def", 24*time.Hour),
			"activation_rescue": n.VerifyAddressProps(activation.LinkNotice{Lang: lang, To: "eric@example.org", Account: anne,
				Link: "https://sesame.example/activation/confirm?flow=f&token=t", Deadline: time.Date(2026, 11, 26, 22, 59, 59, 0, time.UTC), Purpose: "rescue"}),
			"activation_redirect": n.VerifyAddressProps(activation.LinkNotice{Lang: lang, To: "eric@example.org", Account: anne,
				Link: "https://sesame.example/activation/confirm?flow=f&token=t2", Deadline: time.Date(2026, 11, 26, 22, 59, 59, 0, time.UTC), Purpose: "redirect"}),
		}
		for name, p := range mails {
			t.Run(name+"."+lang, func(t *testing.T) {
				subject, text, html, err := n.Compose(p)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, name+"."+lang+".txt", "Subject: "+subject+"\n\n"+text)
				golden(t, name+"."+lang+".html", html)
				// What every mail must say, whatever the wording.
				for _, part := range []string{p.Why, p.Ignore, p.Footer} {
					if part == "" || !strings.Contains(text, part) {
						t.Errorf("text part lacks %q", part)
					}
				}
				if strings.Contains(strings.ToLower(text), "mot de passe :") || strings.Contains(strings.ToLower(text), "password:") {
					t.Error("a mail seems to contain a password")
				}
			})
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./server/notify -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; run with -update if intended.\n--- got ---\n%s", name, got)
	}
}

func TestRecoveryCodeIsQueuedWithItsCode(t *testing.T) {
	n, c := newNotifier(t)
	err := n.RecoveryCode(context.Background(), recovery.CodeNotice{Lang: "en", To: anne.Email, Accounts: []account.Account{anne},
		Code: "T3A8XQ", Link: "https://x/recovery/code?code=T3A8XQ", ValidFor: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.msgs) != 1 {
		t.Fatalf("%d messages", len(c.msgs))
	}
	m := c.msgs[0]
	for _, part := range []string{m.Text, m.HTML} {
		for _, want := range []string{"T3A8XQ", "P001", "10 minutes"} {
			if !strings.Contains(part, want) {
				t.Errorf("mail lacks %q", want)
			}
		}
	}
	if m.Kind != "recovery_code" || m.AccountID != "p001" || m.Lang != "en" || !strings.HasPrefix(m.Subject, "Your security code") {
		t.Errorf("message = %+v", m)
	}
}
