// GenzIQA nodes: show the text a node returns in its "ui" (scores, how many passed) on the node
// itself, in a read-only box under its widgets. Nothing here talks to the server.
import { app } from "../../../scripts/app.js";

const BOX = "genziqa_report";

function showText(node, lines) {
  const text = Array.isArray(lines) ? lines.join("\n") : String(lines ?? "");
  let widget = node.widgets?.find((w) => w.name === BOX);
  if (!widget) {
    const box = document.createElement("textarea");
    box.readOnly = true;
    box.spellcheck = false;
    box.style.cssText = "width:100%;font:11px monospace;opacity:0.85;resize:none;white-space:pre;";
    // serialize: false keeps the box out of the saved workflow and out of the prompt sent to run.
    widget = node.addDOMWidget(BOX, "customtext", box, {
      getValue: () => box.value,
      setValue: (v) => { box.value = v; },
      serialize: false,
    });
    widget.serialize = false;
  }
  widget.value = text;
  const rows = Math.min(Math.max(text.split("\n").length, 2), 14);
  node.setSize([Math.max(node.size[0], 300), Math.max(node.size[1], node.computeSize()[1] + rows * 4)]);
  node.setDirtyCanvas(true, true);
}

app.registerExtension({
  name: "genziqa.ShowQuality",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name.startsWith("GenzIQA")) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      onExecuted?.apply(this, arguments);
      if (output?.text) showText(this, output.text);
    };
  },
});
