// Placeholder until the ImageCleaner view lands (H-js replaces this file).
export default { render({ el }: { el: HTMLElement }) { el.textContent = "ImageCleaner: view not built yet"; } };
