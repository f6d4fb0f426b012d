// Team: the workspace's members and their roles; invite, change role, remove.

import { del, get, patch, post } from "../api.js";
import { add, confirmAction, empty, field, fmtDate, h, mount, run, showError } from "../dom.js";

const ROLES = ["owner", "admin", "agent", "viewer"];
const ROLE_HELP = {
  owner: "everything, including the audit log",
  admin: "bots, knowledge, keys and the team",
  agent: "reads conversations and takes them over",
  viewer: "reads only",
};

export default async function renderTeam(root, ctx) {
  const canManage = ctx.hasRole("admin");
  const myId = ctx.me ? ctx.me.user.id : null;
  const list = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Loading members…"));

  const load = async () => {
    let members;
    try {
      members = await get("/api/auth/members", { signal: ctx.signal });
    } catch (error) {
      mount(list, h("p", { class: "muted" }, "The members could not be loaded."));
      return showError(error, { context: "Could not load the team" });
    }
    if (!members.length) return mount(list, empty("No members yet — invite someone above."));
    mount(
      list,
      h(
        "table",
        { class: "table" },
        h("caption", { class: "sr-only" }, "Members"),
        h("thead", {}, h("tr", {}, ["Member", "Role", "Joined", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
        h("tbody", {}, members.map((m) => memberRow(m, { canManage, isMe: m.user_id === myId, reload: load }))),
      ),
    );
  };

  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off", "data-testid": "invite-email" });
  const role = h("select", { name: "role", value: "agent", "data-testid": "invite-role" }, ROLES.map((r) => h("option", { value: r }, `${r} — ${ROLE_HELP[r]}`)));
  const invite = h("button", { type: "submit", class: "primary", "data-testid": "invite-submit" }, "Add member");
  const form = h(
    "form",
    { class: "card form", "aria-labelledby": "invite-title" },
    h("h2", { id: "invite-title" }, "Add a member"),
    h("p", { class: "hint" }, "We send the address a mail. Someone with a Cortex account joins at once and sees this workspace in their workspace switcher; someone without one is asked to sign up first, then you add them again."),
    h("div", { class: "row" }, h("div", { class: "grow" }, field("Email", email)), field("Role", role), invite),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await run(invite, () => post("/api/auth/members", { email: email.value, role: role.value }), { form, context: "Could not add the member" })) {
      email.value = "";
      await load();
    }
  });

  add(root, 
    h("div", { class: "page-head" }, h("h1", {}, "Team"), h("p", { class: "muted" }, "Who can work in this workspace, and what they may do.")),
    canManage ? form : h("p", { class: "notice" }, "Only admins and owners can add or change members."),
    list,
  );
  await load();
}

function memberRow(member, { canManage, isMe, reload }) {
  const role = h("select", { "aria-label": `Role of ${member.email}`, value: member.role, disabled: !canManage, "data-testid": "member-role" }, ROLES.map((r) => h("option", { value: r }, r)));
  const remove = h("button", { type: "button", class: "small danger", disabled: !canManage, "data-testid": "remove-member" }, isMe ? "Leave" : "Remove");
  role.addEventListener("change", async () => {
    const next = role.value;
    const ok = await confirmAction(`Make ${member.email} ${next === "admin" || next === "owner" ? "an" : "a"} ${next}? Their sessions end so the new role applies at once.`, { action: "Change role", danger: false });
    if (!ok) {
      role.value = member.role;
      return;
    }
    const updated = await run(role, () => patch(`/api/auth/members/${member.user_id}`, { role: next }), { context: "Could not change the role" });
    if (updated) member.role = updated.role;
    role.value = member.role;
  });
  remove.addEventListener("click", async () => {
    const ok = await confirmAction(isMe ? "Leave this workspace? You lose access to it at once." : `Remove ${member.email} from this workspace? They lose access at once.`, { action: isMe ? "Leave" : "Remove" });
    if (ok && (await run(remove, async () => (await del(`/api/auth/members/${member.user_id}`), true), { context: "Could not remove the member" }))) await reload();
  });
  return h(
    "tr",
    { "data-testid": "member-row" },
    h("td", {}, h("div", {}, member.display_name || member.email, isMe ? [" ", h("span", { class: "tag" }, "you")] : null), member.display_name ? h("div", { class: "muted" }, member.email) : null),
    h("td", {}, role),
    h("td", {}, fmtDate(member.created_at)),
    h("td", {}, remove),
  );
}
