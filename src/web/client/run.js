// @ts-check
// The run form: says at once when a file is too large, before minutes of uploading it for a
// refusal (the coordinator checks again). Sizes come from the form's data-max-* attributes.

/** @param {number} n */
const size = (n) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`)

for (const form of document.querySelectorAll('form.run')) {
  if (!(form instanceof HTMLFormElement)) continue
  const error = form.querySelector('[data-form-error]')
  form.addEventListener('submit', (event) => {
    const maxScript = Number(form.dataset['maxScript'])
    const maxInputs = Number(form.dataset['maxInputs'])
    const script = form.elements.namedItem('script')
    const inputs = form.elements.namedItem('inputs')
    let problem = ''
    const file = script instanceof HTMLInputElement ? script.files?.[0] : undefined
    if (file && file.size > maxScript)
      problem = `The script is ${size(file.size)}; scripts can be at most ${size(maxScript)}.`
    if (inputs instanceof HTMLInputElement && inputs.files) {
      let total = 0
      for (const f of inputs.files) total += f.size
      if (total > maxInputs)
        problem = `The input files come to ${size(total)}; this grid takes at most ${size(maxInputs)}.`
    }
    if (!problem || !(error instanceof HTMLElement)) return
    event.preventDefault()
    error.textContent = problem
    error.hidden = false
    error.focus()
  })
}
