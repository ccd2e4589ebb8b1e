import { describe, expect, test } from 'bun:test'
import { ConfirmButton } from '../src/console/views/layout'

/**
 * The console's one confirm button (revoke a token, remove a space's variable, remove a member):
 * the form that works without JavaScript, the dialog the console's script opens for it, and the
 * names that screen readers read. The pages that use it are tested in console-pages,
 * console-spaces and the browser suites; this is the component's own contract.
 */
const render = async (props: Parameters<typeof ConfirmButton>[0]) => String(await ConfirmButton(props))

describe('ConfirmButton', () => {
  test('trash icon: the form posts with its hidden fields and names its dialog; the dialog is named by its heading', async () => {
    const html = await render({
      action: '/things/t1/revoke',
      dialog: 'revoke-t1',
      button: { trash: true, label: 'Revoke token T1', title: 'Revoke' },
      title: 'Revoke "T1"?',
      warning: 'It stops at once.',
      note: 'A note.',
      cancel: 'Cancel',
      confirm: 'Revoke token',
      children: '<input type="hidden" name="all" value="1">',
    })
    // Without JavaScript the button posts the form at once, hidden fields included.
    expect(html).toMatch(/^<form method="post" action="\/things\/t1\/revoke" data-confirm="revoke-t1" class="inline"><input type="hidden" name="all" value="1"><button type="submit" class="icon danger" aria-label="Revoke token T1" title="Revoke"><svg aria-hidden="true"[^]*?<\/svg><\/button><\/form>/)
    // Described by its warning and note: read out when it opens, before the focused Cancel.
    expect(html).toContain('<dialog id="revoke-t1" aria-labelledby="revoke-t1-title" aria-describedby="revoke-t1-warning revoke-t1-note"><form method="dialog"><h2 id="revoke-t1-title">Revoke "T1"?</h2>')
    expect(html).toContain('<p class="notice warning" id="revoke-t1-warning">It stops at once.</p><p id="revoke-t1-note">A note.</p>')
    // Cancel first and focused: Enter in the dialog does not confirm.
    expect(html).toContain('<div class="row"><button value="cancel" autofocus>Cancel</button><button value="confirm" class="danger">Revoke token</button></div></form></dialog>')
  })

  test('a word on the button: named by a paragraph; no warning or note unless given; texts escaped', async () => {
    const html = await render({
      action: '/org/members/u2/remove',
      dialog: 'remove-u2',
      button: { text: 'Remove <b>', label: 'Remove b@x' },
      question: 'Remove b@x?',
      note: null,
      cancel: 'Cancel',
      confirm: 'Remove & go',
    })
    expect(html).toContain('<form method="post" action="/org/members/u2/remove" data-confirm="remove-u2" class="inline"><button type="submit" class="danger" aria-label="Remove b@x">Remove &lt;b&gt;</button></form>')
    expect(html).toContain('<dialog id="remove-u2" aria-labelledby="remove-u2-question"><form method="dialog"><p id="remove-u2-question">Remove b@x?</p><div class="row">')
    expect(html).toContain('<button value="confirm" class="danger">Remove &amp; go</button>')
    expect(html).not.toContain('<svg')
  })
})
