# blkrew plot 'norm-histograms-blk-rew', generated from the run's records (deterministic).
# Data: norm-histograms-blk-rew.csv (first row: column names). Draw it here with: gnuplot norm-histograms-blk-rew.gp
if (!exists("outfile")) outfile = 'norm-histograms-blk-rew.svg'
set encoding utf8
set terminal svg size 900,2700 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Group norms: blk-rew 4x8 R16 seed 1'
set grid
set key outside right top
set style fill transparent solid 0.45 noborder
set key inside top left
set multiplot layout 9,2 title 'Group norms: blk-rew 4x8 R16 seed 1'
set title 'layer1.0.conv1 (zeros 0 → 0; below range 0 → 1)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::0::23 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::24::47 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer1.0.conv2 (zeros 0 → 0; below range 0 → 2)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::48::71 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::72::95 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer1.1.conv1 (zeros 0 → 0; below range 0 → 9)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::96::119 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::120::143 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer1.1.conv2 (zeros 0 → 0; below range 0 → 7)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::144::167 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::168::191 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer1.2.conv1 (zeros 0 → 0; below range 0 → 14)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::192::215 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::216::239 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer1.2.conv2 (zeros 0 → 0; below range 0 → 11)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::240::263 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::264::287 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer2.0.conv1 (zeros 0 → 0; below range 0 → 7)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::288::311 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::312::335 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer2.0.conv2 (zeros 0 → 0; below range 0 → 17)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::336::359 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::360::383 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer2.1.conv1 (zeros 0 → 0; below range 0 → 42)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::384::407 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::408::431 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer2.1.conv2 (zeros 0 → 0; below range 0 → 28)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::432::455 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::456::479 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer2.2.conv1 (zeros 0 → 0; below range 0 → 20)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::480::503 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::504::527 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer2.2.conv2 (zeros 0 → 0; below range 0 → 16)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::528::551 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::552::575 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer3.0.conv1 (zeros 0 → 0; below range 0 → 45)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::576::599 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::600::623 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer3.0.conv2 (zeros 0 → 0; below range 0 → 136)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::624::647 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::648::671 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer3.1.conv1 (zeros 0 → 0; below range 0 → 186)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::672::695 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::696::719 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer3.1.conv2 (zeros 0 → 0; below range 0 → 157)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::720::743 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::744::767 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer3.2.conv1 (zeros 0 → 0; below range 0 → 167)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::768::791 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::792::815 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
set title 'layer3.2.conv2 (zeros 0 → 0; below range 0 → 174)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-blk-rew.csv' skip 1 every ::816::839 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::840::863 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
unset multiplot
