package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests find elements by asking the page itself, in
// JavaScript, rather than through chromedp's element queries. Those read
// chromedp's own copy of the DOM tree, rebuilt from DOM events; when a new
// document replaces the previous one while a query runs (DOM.documentUpdated
// racing the nodes a search pushes), the copy can miss the very nodes the
// search found, and the query then waits forever for a node that is on
// the screen: about one run in a dozen on a loaded 2-core machine,
// `WaitVisible("h1")` on a page whose h1 was there. The page's own DOM
// cannot be out of date.
//
// What a person does stays what the test does: the clicks are real mouse
// events at the element's centre, the typing real key events into the
// focused field.

// visibleJS is a JavaScript expression: the first element matching sel
// that a person could see (a box, not hidden), or null.
func visibleJS(sel string) string {
	q, _ := json.Marshal(sel)
	return fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		if (!e) return null;
		const r = e.getBoundingClientRect(), s = getComputedStyle(e);
		return r.width > 0 && r.height > 0 && s.visibility !== "hidden" ? e : null;
	})()`, q)
}

// until evaluates expr every 20 ms until it gives a value that is not
// null, and returns it. An evaluation that fails because the page is
// being replaced (a navigation under way) is tried again; ctx bounds the
// wait.
func until[T any](ctx context.Context, t *chromedp.Target, expr string) (T, error) {
	var zero T
	for {
		v, err := chromedp.Evaluate[*T](expr)(ctx, t)
		if err == nil && v != nil {
			return *v, nil
		}
		var exc *chromedp.ExceptionError
		if errors.As(err, &exc) {
			// A script error is the test's mistake: say it now.
			return zero, err
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return zero, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
			}
			return zero, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitVisible waits until an element matching sel is visible.
func waitVisible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := until[bool](ctx, t, visibleJS(sel)+` !== null || null`); err != nil {
			return fmt.Errorf("wait for %s to be visible: %w", sel, err)
		}
		return nil
	})
}

// waitTrue waits until expr is true. Unlike chromedp.Poll, it survives the
// page being replaced while it waits: after a click on a link, the old page
// may still be evaluated once before the navigation destroys its context.
func waitTrue(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := until[bool](ctx, t, `(`+expr+`) || null`); err != nil {
			return fmt.Errorf("wait for %s: %w", expr, err)
		}
		return nil
	})
}

// clickToPage clicks sel, a link or a submit button that loads another
// page, and waits until that page has replaced the one clicked, is parsed
// whole, and shows an element matching want. waitVisible(want) alone passes
// at once when the page being left shows want too (the sign-in page under
// the recovery dialog, whose « Continuer » loads another sign-in page):
// what the test reads next then comes from the old page, or fails when the
// navigation destroys it mid-read. So the page clicked is marked first:
// the mark goes away with that page whatever the new one holds, and the
// wait asks nothing of the new page's content but want, which leaves every
// check on it to the test.
func clickToPage(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Evaluate[bool](`window.e2eLeaving = true`)(ctx, t); err != nil {
			return fmt.Errorf("mark the page before clicking %s: %w", sel, err)
		}
		if _, err := click(sel)(ctx, t); err != nil {
			return err
		}
		if _, err := until[bool](ctx, t, `(!window.e2eLeaving && document.readyState !== "loading" && `+visibleJS(want)+` !== null) || null`); err != nil {
			return fmt.Errorf("wait for the page %s loads to show %s: %w", sel, want, err)
		}
		return nil
	})
}

// eventually reports, as a test error, an expr that is still not true
// after 5 s: for what the page does on its own once loaded (autofocus
// applies at the first rendering, after the parser has set the fields).
func (b *browser) eventually(t *testing.T, expr, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, waitTrue(expr)); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// waitPresent waits until an element matching sel is in the document.
func waitPresent(sel string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(sel)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := until[bool](ctx, t, fmt.Sprintf(`document.querySelector(%s) !== null || null`, q)); err != nil {
			return fmt.Errorf("wait for %s: %w", sel, err)
		}
		return nil
	})
}

// click scrolls the first visible element matching sel to the middle of
// the screen and clicks its centre with the mouse, once that point shows
// the element itself (not something laid over it, nor a layout still
// moving).
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		xy, err := until[[2]float64](ctx, t, `(() => {
			const e = `+visibleJS(sel)+`;
			if (!e) return null;
			e.scrollIntoView({block: "center", inline: "center", behavior: "instant"});
			const r = e.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
			const hit = document.elementFromPoint(x, y);
			return hit && (hit === e || e.contains(hit) || hit.control === e) ? [x, y] : null;
		})()`)
		if err != nil {
			return fmt.Errorf("click %s: %w", sel, err)
		}
		_, err = chromedp.MouseClickXY(xy[0], xy[1])(ctx, t)
		return err
	})
}

// sendKeys focuses the first visible element matching sel and types v
// into it, key by key.
func sendKeys(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := until[bool](ctx, t, `(() => { const e = `+visibleJS(sel)+`; if (!e) return null; e.focus(); return document.activeElement === e || null; })()`); err != nil {
			return fmt.Errorf("type into %s: %w", sel, err)
		}
		_, err := chromedp.KeyEvent(v)(ctx, t)
		return err
	})
}

// setValue sets the value of the first element matching sel, as choosing
// it would: the page hears the input and change events.
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	val, _ := json.Marshal(v)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := until[bool](ctx, t, `(() => { const e = `+visibleJS(sel)+`; if (!e) return null;
			e.value = `+string(val)+`;
			e.dispatchEvent(new Event("input", {bubbles: true}));
			e.dispatchEvent(new Event("change", {bubbles: true}));
			return true; })()`)
		if err != nil {
			return fmt.Errorf("set %s: %w", sel, err)
		}
		return nil
	})
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// typeNewPassword types a new password and its confirmation as a person
// does, waiting for the live checklist to accept it and for the two to
// match.
func typeNewPassword(t *testing.T, b *browser, password string) {
	t.Helper()
	b.run(t, sendKeys("#new-password", password), waitAllRulesMet())
	b.settled(t)
	b.run(t, sendKeys("#confirm-password", password), waitVisible(`[data-testid="match"].met`))
	b.settled(t)
}

// waitAllRulesMet waits until every line of the live password checklist
// is met.
func waitAllRulesMet() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`document.querySelectorAll("#pw-rules li[data-met=true]").length === document.querySelectorAll("#pw-rules li").length`, chromedp.WithPollingTimeout(10*time.Second))
}
