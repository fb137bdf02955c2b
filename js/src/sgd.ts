// Placeholder until the SGD playground view lands.
export default { render({ el }: { el: HTMLElement }) { el.textContent = "SGD playground: view not built yet"; } };
