//! UI language: English and 简体中文. Strings are written in English in the code and looked up
//! here; a string without a translation shows in English.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];
    /// The language's own name (shown in the switch).
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "简体中文",
        }
    }
}

/// English → 简体中文.
const ZH: &[(&str, &str)] = &[
    ("Accept", "接受"),
    ("Reject", "拒绝"),
    ("Skip", "跳过"),
    ("Undo", "撤销"),
    ("Redo", "重做"),
    ("Previous", "上一个"),
    ("Next", "下一个"),
    ("Review", "审核"),
    ("Bulk accept", "批量接受"),
    ("Training", "训练"),
    ("Insights", "统计"),
    ("Export", "导出"),
    ("Projects", "项目"),
    ("Shortcuts", "快捷键"),
    ("Suggestion", "建议"),
    ("No suggestion yet", "暂无建议"),
    ("Alternatives", "其他候选"),
    ("Labels", "标签"),
    ("Up next", "接下来"),
    ("Queue", "队列"),
    ("Filter", "筛选"),
    ("labeled", "已标注"),
    ("today", "今日"),
    ("items/min", "条/分钟"),
    ("accept rate", "接受率"),
    ("saved", "已保存"),
    ("saving…", "保存中…"),
    ("not saved", "未保存"),
    ("me", "我"),
    ("team", "团队"),
    (
        "labelled by me / by the team / items",
        "我标注的 / 团队标注的 / 总数",
    ),
    ("offline", "离线"),
    ("waiting to be sent", "条待发送"),
    (
        "kept on this computer; sent once the team server is back",
        "已保存在本机；团队服务器恢复后发送",
    ),
    (
        "Open a team project (PostgreSQL URL)",
        "打开团队项目（PostgreSQL 地址）",
    ),
    ("Recent team projects", "最近的团队项目"),
    ("Open team project", "打开团队项目"),
    (
        "passwords: PGPASSWORD or ~/.pgpass (not kept in the list)",
        "密码：PGPASSWORD 或 ~/.pgpass（不保存在列表中）",
    ),
    ("Loading…", "加载中…"),
    ("The queue is empty.", "队列已空。"),
    ("Uncertain first (learns fastest)", "不确定优先（学得最快）"),
    ("about wrong:", "预计错误约"),
    ("Backbone", "骨干网络"),
    (
        "MobileNetV2 + EfficientNet-Lite0 (fewest corrections)",
        "MobileNetV2 + EfficientNet-Lite0（改得最少）",
    ),
    ("MobileNetV2 (light)", "MobileNetV2（轻量）"),
    ("(≥ 98% right on the hold-out)", "（留出集上 ≥ 98% 正确）"),
    ("Calibration error (ECE)", "校准误差（ECE）"),
    ("temperature", "温度"),
    ("bulk accept ticks from", "批量接受勾选阈值"),
    ("ticked from", "勾选阈值"),
    (
        "Most likely right first (fewest corrections)",
        "最可能正确优先（改得最少）",
    ),
    ("Diverse", "多样性"),
    ("Random", "随机"),
    ("File order", "文件顺序"),
    ("Unlabeled", "未标注"),
    ("Predicted as", "预测为"),
    ("Disagreements", "不一致"),
    ("Answers", "各标注员的答案"),
    (
        "the chart starts with the second model",
        "图表从第二个模型开始",
    ),
    (
        "No suggestions to accept yet: train a model (Training) or label a few items first.",
        "还没有可批量接受的建议：先训练模型（训练），或先标注几条。",
    ),
    ("Agreement between annotators", "标注员一致性"),
    ("items compared", "对比条目"),
    ("raw agreement", "原始一致率"),
    ("disagree", "不一致"),
    ("flagged", "标记不确定"),
    ("Cohen's kappa per pair", "两两 Cohen's kappa"),
    ("Agreement per label (α)", "各标签一致性 (α)"),
    ("Gold checks", "金标准检查"),
    ("flagged under", "低于此值标红"),
    ("checked", "检查数"),
    ("right", "答对"),
    ("accuracy", "准确率"),
    (
        "Your label is final: Enter takes the most common answer, 1-9 another",
        "您的标签为最终结果：回车采用多数答案，1-9 选择其他",
    ),
    ("not sure", "不确定"),
    ("Not sure", "不确定"),
    ("Not sure (to the review queue)", "不确定（交给审核队列）"),
    ("Mark as gold", "设为金标准"),
    (
        "Its label becomes a gold check, mixed into every annotator's queue",
        "其标签成为金标准检查题，混入每位标注员的队列",
    ),
    ("lead", "负责人"),
    ("annotator", "标注员"),
    (
        "Review queue (annotators disagree, flagged)",
        "审核队列（标注员意见不一或标记不确定）",
    ),
    ("Errors", "错误"),
    ("All", "全部"),
    ("Accept all ticked", "接受所有勾选项"),
    (
        "Untick the wrong ones, then accept the rest.",
        "取消勾选错误项，然后接受其余项。",
    ),
    ("Train", "训练"),
    ("Cancel", "取消"),
    ("Epochs", "轮数"),
    ("Hold-out %", "留出比例 %"),
    ("Mode", "模式"),
    ("Activation", "启用方式"),
    ("Activate", "启用"),
    ("Discard", "放弃"),
    ("Active", "当前模型"),
    ("New model", "新模型"),
    ("Accuracy", "准确率"),
    ("Macro F1", "宏平均 F1"),
    ("Per class", "各类别"),
    ("Confusion matrix", "混淆矩阵"),
    ("Model history", "模型历史"),
    ("Loss", "损失"),
    ("Counts per label", "各标签数量"),
    ("Pre-labeling", "预标注"),
    ("Label distribution", "标签分布"),
    ("Annotators", "标注员"),
    ("Accept rate over time", "接受率趋势"),
    ("Items with errors", "出错的条目"),
    ("Recent projects", "最近的项目"),
    ("New project", "新建项目"),
    ("Overlap", "交叉标注"),
    (
        "N annotators for a share of the items, blind (e.g. 0.1x3: 10 %, 3 each); empty: once",
        "部分条目由 N 位标注员背对背标注（如 0.1x3：10% 的条目各 3 人）；留空：每条一次",
    ),
    ("Open", "打开"),
    ("Create", "创建"),
    ("Browse…", "浏览…"),
    ("Name", "名称"),
    ("Kind", "类型"),
    ("Images", "图片"),
    ("Form pages", "表单页面"),
    ("Objects (boxes)", "目标（框）"),
    ("one class per image", "每张图片一个类别"),
    ("H5 form pages: a type per field, an industry per page", "H5 表单页面：每个字段一个类型，每页一个行业"),
    ("boxes around the objects in images, a label per box", "为图片中的目标画框，每个框一个标签"),
    ("boxes", "个框"),
    ("hidden, score", "个已隐藏，分数"),
    ("Label of the selected box", "所选框的标签"),
    ("Accept image (Enter)", "接受本图（Enter）"),
    ("Delete box (Del)", "删除框（Del）"),
    ("Show or hide low scores (H)", "显示或隐藏低分框（H）"),
    ("Fit", "适应窗口"),
    ("Zoom to box (Z)", "缩放到框（Z）"),
    ("Accept the image as shown", "按所示接受本图"),
    ("Next / previous box", "下一个 / 上一个框"),
    ("Label of the selected box (1 – 9)", "所选框的标签（1 – 9）"),
    ("Remove the selected box", "删除所选框"),
    ("Draw a box; drag an edge or a corner to adjust", "拖动画框；拖动边或角调整"),
    ("Move the selected box by 1 (10) px", "将所选框移动 1（10）像素"),
    ("Show or hide low scores", "显示或隐藏低分框"),
    ("Zoom to the selected box", "缩放到所选框"),
    ("Zoom / pan", "缩放 / 平移"),
    ("Detector", "检测器"),
    ("proposals", "个候选框"),
    ("mean score", "平均分"),
    ("lowest", "最低"),
    ("No proposals: draw the boxes", "没有候选框：请画框"),
    ("Source folder", "源文件夹"),
    ("Template", "模板"),
    ("Open the demo project", "打开演示项目"),
    ("Your name", "你的名字"),
    ("Continue", "继续"),
    ("Page industry", "页面行业"),
    ("Fields", "字段"),
    ("Language", "语言"),
    ("Refresh", "刷新"),
    ("Destination", "目标位置"),
    ("Format", "格式"),
    ("Background jobs", "后台任务"),
    ("Open a project file (.yuxuan)", "打开项目文件 (.yuxuan)"),
    ("Labels (comma-separated)", "标签（逗号分隔）"),
    ("Annotator", "标注员"),
    ("Close", "关闭"),
    ("Presets", "预设"),
    (
        "the machine preselects, the human decides",
        "机器预选，人来决定",
    ),
    ("project default", "项目默认"),
    ("head on cached embeddings", "在缓存特征上训练分类头"),
    ("fine-tune backbone", "微调骨干网络"),
    ("TorchScript model", "TorchScript 模型"),
    ("activate if not worse", "不差于当前模型则启用"),
    ("always activate", "总是启用"),
    ("let me decide", "由我决定"),
    ("cancelling…", "正在取消…"),
    (
        "training cancelled; nothing was registered",
        "训练已取消，未登记任何模型",
    ),
    ("training failed", "训练失败"),
    ("train", "训练集"),
    ("hold-out", "留出集"),
    ("active", "已启用"),
    ("not active", "未启用"),
    (
        "add machine labels (marked) for unlabeled items",
        "为未标注条目加入机器标签（带标记）",
    ),
    ("min score", "最低置信度"),
    ("replace an existing folder", "覆盖已有文件夹"),
    ("Start export", "开始导出"),
    ("Save in", "保存到"),
    ("Propose fields", "推荐字段"),
    ("Evaluate presets", "评估预设"),
    (
        "Leave one labelled page out at a time: its industry's preset from the other pages against its real field types",
        "每次留出一个已标注页面：用其他页面得到的行业预设对比该页面的真实字段类型",
    ),
    ("industry", "行业"),
    ("pages", "页面数"),
    ("precision", "精确率"),
    ("recall", "召回率"),
    ("by title: precision", "按标题：精确率"),
    ("by title: recall", "按标题：召回率"),
    ("all industries", "全部行业"),
    ("Targets met: recall ≥ 0.8 at precision ≥ 0.7", "已达标：召回率 ≥ 0.8 且精确率 ≥ 0.7"),
    ("Targets not met: recall ≥ 0.8 at precision ≥ 0.7", "未达标：召回率 ≥ 0.8 且精确率 ≥ 0.7"),
    ("accept", "接受"),
    ("correct", "更正"),
    ("skip", "跳过"),
    ("undo", "撤销"),
    ("median s/item", "每条中位秒数"),
    ("label", "标签文字"),
    ("placeholder", "占位提示"),
    ("text", "文字"),
    (
        "emoji images in 9 categories + Chinese and English form pages",
        "9 类表情图片 + 中英文表单页面",
    ),
    ("first model", "首个模型"),
    ("Near duplicates", "近似重复"),
    ("Opening", "正在打开"),
    ("Similarity at least", "相似度不低于"),
    ("Find near duplicates", "查找近似重复"),
    ("groups", "组"),
    ("images searched", "张图片已比对"),
    ("with conflicting labels", "组标签互相矛盾"),
    ("conflicting labels", "标签矛盾"),
    ("near duplicates", "近似重复"),
    ("suspect labels", "可疑标签检查"),
    ("import", "导入"),
    ("crawl", "抓取"),
    ("Crawl", "抓取网页"),
    ("Seed URLs (one per line)", "起始网址（每行一个）"),
    ("Link depth", "链接深度"),
    ("Max pages", "最多页面数"),
    ("Requests per second per host", "每个站点每秒请求数"),
    ("Industry", "行业"),
    ("none", "无"),
    ("Stay on the seeds' sites", "只抓取起始网址所在的站点"),
    ("Also start from their sitemaps", "同时从站点地图开始"),
    (
        "robots.txt is honoured; the same seeds again resume a cancelled crawl.",
        "遵守 robots.txt；再次使用相同的起始网址会继续已取消的抓取。",
    ),
    ("Start crawl", "开始抓取"),
    ("export", "导出"),
    ("Suspect labels (probably wrong)", "可疑标签（可能标错）"),
    ("Suspect label", "可疑标签"),
    ("labelled", "标为"),
    ("probably", "可能是"),
    (
        "Your label is final: Enter takes the suggested label, the digit of the given label keeps it",
        "您的标签为最终结果：回车采用建议的标签，按原标签的数字键则保留原标签",
    ),
    ("Suspect labels", "可疑标签"),
    ("Check labels", "检查标签"),
    (
        "Predict every label with models that never saw it and rank the ones that are probably wrong",
        "用从未见过该标签的模型预测每个标签，并对可能标错的标签排序",
    ),
    ("Not checked yet", "尚未检查"),
    ("labels checked", "个标签已检查"),
    ("suspect", "可疑"),
    ("open", "待复核"),
    ("estimated mislabelled", "估计标错"),
    ("Review them", "去复核"),
    ("Not checked (too few labels)", "未检查（标签太少）"),
    ("Estimated noise", "估计的标签噪声"),
    ("about", "约"),
    ("are probably", "可能是"),
    ("Annotator quality", "标注员质量"),
    ("share", "占比"),
    ("gold accuracy", "金标准准确率"),
];

/// Translate `s` into `lang` (English strings are the keys).
pub fn tr(lang: Lang, s: &str) -> &str {
    if lang == Lang::En {
        return s;
    }
    ZH.iter()
        .find(|(en, _)| *en == s)
        .map(|(_, zh)| *zh)
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_identity_and_chinese_differs() {
        assert_eq!(tr(Lang::En, "Accept"), "Accept");
        assert_eq!(tr(Lang::Zh, "Accept"), "接受");
        assert_eq!(tr(Lang::Zh, "no such string"), "no such string");
        let mut keys: Vec<&str> = ZH.iter().map(|(e, _)| *e).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len(), "duplicate English key");
        assert!(ZH
            .iter()
            .all(|(e, z)| e != z && z.chars().any(|c| c as u32 > 0x2e80)));
    }

    /// The string literals the UI passes to `tr(lang, "…")` / `self.t("…")`, from its sources.
    fn ui_keys() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "rs") || path.ends_with("i18n.rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            for (start, pat) in src
                .match_indices("tr(")
                .map(|(i, _)| (i, "tr("))
                .chain(src.match_indices(".t(").map(|(i, _)| (i, ".t(")))
            {
                let rest = &src[start + pat.len()..];
                // `tr(lang, "…")`: the literal after the first comma; `.t("…")`: right away.
                let rest = if pat == "tr(" {
                    match rest.find(',') {
                        Some(c) if !rest[..c].contains(['(', '"', ')']) => &rest[c + 1..],
                        _ => continue,
                    }
                } else {
                    rest
                };
                let rest = rest.trim_start();
                if let Some(lit) = rest.strip_prefix('"') {
                    if let Some(end) = lit.find('"') {
                        out.push((lit[..end].to_string(), file.clone()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_literal_the_ui_translates_has_a_chinese_entry() {
        let keys = ui_keys();
        assert!(keys.len() > 80, "found only {} keys", keys.len());
        let missing: Vec<_> = keys
            .iter()
            .filter(|(k, _)| !ZH.iter().any(|(e, _)| e == k))
            .collect();
        assert!(missing.is_empty(), "no 简体中文 for: {missing:?}");
    }
}
